"""infra/demo.py: generated secrets, settings handed to each process, its prerequisites."""

import base64

import pytest

from infra import demo


def test_session_key_has_the_bff_keys_format() -> None:
    kid, _, secret = demo.session_key().partition(":")
    assert kid == "demo"
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) == 32


def test_secrets_are_fresh_each_start() -> None:
    assert demo.Secrets.generate() != demo.Secrets.generate()


def test_ports_default_and_override() -> None:
    assert demo.Ports.from_env({}) == demo.Ports(idp=9100, api=8001, bff=8000)
    assert demo.Ports.from_env({"DEMO_BFF_PORT": "8100"}).bff == 8100
    with pytest.raises(demo.DemoError, match="DEMO_API_PORT"):
        demo.Ports.from_env({"DEMO_API_PORT": "http"})
    with pytest.raises(demo.DemoError, match="must differ"):
        demo.Ports.from_env({"DEMO_API_PORT": "8000"})


def test_the_three_processes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFF_SCOPES", "leaked from the shell")
    ports = demo.Ports(idp=9100, api=8001, bff=8000)
    keys = demo.Secrets.generate()
    idp, api, bff = demo.provider_env(ports, keys), demo.api_env(ports), demo.bff_env(ports, keys)

    issuer = "http://127.0.0.1:9100"
    assert idp["OIDC_ISSUER"] == api["API_OIDC_ISSUER"] == bff["BFF_OIDC_ISSUER"] == issuer
    assert idp["OIDC_API_AUDIENCE"] == api["API_AUDIENCE"] == bff["BFF_RESOURCE"]
    assert idp["OIDC_BFF_CLIENT_SECRET"] == bff["BFF_CLIENT_SECRET"] == keys.bff_client_secret
    assert idp["OIDC_BFF_PUBLIC_URL"] == bff["BFF_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert api["API_SERVICE_CLIENTS"] == idp["OIDC_SERVICE_CLIENT_ID"]
    assert bff["BFF_UPSTREAM_URL"] == "http://127.0.0.1:8001"
    assert bff["BFF_SESSION_KEYS"] == keys.session_key
    assert "BFF_SCOPES" not in bff
    # Loopback only.
    assert idp["OIDC_HOST"] == api["API_HOST"] == bff["BFF_HOST"] == "127.0.0.1"


def test_banner_names_the_url_the_users_and_how_to_stop() -> None:
    text = demo.banner(demo.Ports(idp=9100, api=8001, bff=8000))
    for needle in ("http://127.0.0.1:8000", "alice", "admin", "any password", "Ctrl-C"):
        assert needle in text


def test_a_busy_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "port_is_free", lambda host, port: port != 8001)
    with pytest.raises(demo.DemoError, match=r"127\.0\.0\.1:8001 is in use.*DEMO_API_PORT"):
        demo.check_prerequisites(demo.Ports(idp=9100, api=8001, bff=8000))
