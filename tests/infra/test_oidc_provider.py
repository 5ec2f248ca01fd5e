"""infra/oidc-provider/server.mjs on its own: loopback only, discovery, RS256 `at+jwt` access
tokens for the API audience, claims, PKCE, refresh rotation with reuse detection and the test
counters. Needs node and `make install-node`."""

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from infra.stack import ServiceSpec, Stack, free_port
from tests.e2e.browser import code_flow_tokens
from tests.e2e.stack import ARTIFACTS, PROVIDER_DIR

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("node") is None or not (PROVIDER_DIR / "node_modules").is_dir(),
        reason="needs node and `make install-node`",
    ),
]

AUDIENCE = "urn:test-api"
BFF_SECRET = "bff-secret-for-tests"
SERVICE_SECRET = "service-secret-for-tests"
BFF_URL = "http://127.0.0.1:1"  # nothing listens: back-channel delivery is not tested here


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env.update(
        OIDC_PORT=str(port),
        OIDC_BFF_CLIENT_SECRET=BFF_SECRET,
        OIDC_SERVICE_CLIENT_SECRET=SERVICE_SECRET,
        OIDC_BFF_PUBLIC_URL=BFF_URL,
        OIDC_API_AUDIENCE=AUDIENCE,
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Stack() as stack:
        stack.start(
            ServiceSpec(
                name="provider",
                argv=[shutil.which("node") or "node", "server.mjs"],
                env=_env(port, OIDC_TEST_MODE="1"),
                cwd=PROVIDER_DIR,
                ready_url=f"{url}/.well-known/openid-configuration",
                log_path=ARTIFACTS / "provider-only" / "provider.log",
            )
        )
        yield url


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(s: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def _stats(issuer: str) -> dict[str, Any]:
    return httpx.get(f"{issuer}/__test/stats").json()


def test_refuses_to_listen_beyond_loopback() -> None:
    done = subprocess.run(
        ["node", "server.mjs"],
        cwd=PROVIDER_DIR,
        env=_env(free_port(), OIDC_HOST="0.0.0.0"),  # noqa: S104 (must be refused)
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "OIDC_HOST" in done.stderr


def test_discovery(issuer: str) -> None:
    meta = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert meta["issuer"] == issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    for endpoint in ("end_session_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert meta[endpoint].startswith(issuer)
    assert "client_credentials" in meta["grant_types_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_client_credentials_gives_a_verifiable_at_jwt(issuer: str) -> None:
    response = httpx.post(
        f"{issuer}/token",
        auth=("inventory-service", SERVICE_SECRET),
        data={"grant_type": "client_credentials", "scope": "inventory:read", "resource": AUDIENCE},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    header, _ = _segments(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"

    keys = KeySet.import_key_set(httpx.get(f"{issuer}/jwks").json())
    claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
    assert claims["iss"] == issuer
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == claims["sub"] == "inventory-service"
    assert claims["scope"] == "inventory:read"

    refused = httpx.post(
        f"{issuer}/token",
        auth=("inventory-service", SERVICE_SECRET),
        data={"grant_type": "client_credentials", "scope": "inventory:write"},
    )
    assert refused.json()["error"] == "invalid_scope"


def test_user_tokens_carry_groups_and_profile(issuer: str) -> None:
    tokens = code_flow_tokens(issuer, BFF_URL, BFF_SECRET, "admin", resource=AUDIENCE)
    _, id_claims = _segments(tokens["id_token"])
    assert id_claims["groups"] == ["admin"]
    assert id_claims["name"] == "Ada Admin"
    assert id_claims["email"] == "admin@example.test"
    assert id_claims["sid"]
    header, access = _segments(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert access["aud"] == AUDIENCE
    assert access["groups"] == ["admin"]
    assert access["sub"] == "admin"
    assert tokens.get("refresh_token"), "the first-party BFF gets a refresh token"


def test_pkce_is_required(issuer: str) -> None:
    response = httpx.get(
        f"{issuer}/auth",
        params={
            "response_type": "code",
            "client_id": "bff",
            "redirect_uri": f"{BFF_URL}/auth/callback",
            "scope": "openid",
            "state": "s",
        },
    )
    assert response.status_code == 303
    assert "PKCE" in httpx.URL(response.headers["location"]).params["error_description"]


def test_refresh_rotates_and_reuse_revokes_the_grant(issuer: str) -> None:
    first = code_flow_tokens(issuer, BFF_URL, BFF_SECRET, "alice", resource=AUDIENCE)[
        "refresh_token"
    ]
    before = _stats(issuer)

    def refresh(token: str) -> httpx.Response:
        return httpx.post(
            f"{issuer}/token",
            auth=("bff", BFF_SECRET),
            data={"grant_type": "refresh_token", "refresh_token": token, "resource": AUDIENCE},
        )

    rotated = refresh(first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first

    replay = refresh(first)
    assert replay.json()["error"] == "invalid_grant"
    # Reuse detection: the whole grant is gone, the newer token too.
    assert refresh(second).json()["error"] == "invalid_grant"

    after = _stats(issuer)
    assert after["refresh_token_reuse"] == before["refresh_token_reuse"] + 1
    assert after["refresh_token_rotations"] == before["refresh_token_rotations"] + 1
    assert after["grants_revoked"] >= before["grants_revoked"] + 1


def test_revocation_and_introspection_of_refresh_tokens(issuer: str) -> None:
    token = code_flow_tokens(issuer, BFF_URL, BFF_SECRET, "bob", resource=AUDIENCE)["refresh_token"]
    active = httpx.post(
        f"{issuer}/token/introspection", auth=("bff", BFF_SECRET), data={"token": token}
    ).json()
    assert active["active"] is True
    assert active["sub"] == "bob"
    revoked = httpx.post(
        f"{issuer}/token/revocation", auth=("bff", BFF_SECRET), data={"token": token}
    )
    assert revoked.status_code == 200
    after = httpx.post(
        f"{issuer}/token/introspection", auth=("bff", BFF_SECRET), data={"token": token}
    ).json()
    assert after == {"active": False}
