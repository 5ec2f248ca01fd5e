"""Settings and the command line: every problem named at once, exit 2, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resource_api.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("API_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("API_AUDIENCE", "api-1, api-2")
    monkeypatch.setenv("API_SERVICE_CLIENTS", "svc-a,svc-b")
    monkeypatch.setenv("API_BOOTSTRAP_ADMIN", "https://idp.example 1234")
    monkeypatch.setenv("API_AUTO_MIGRATE", "false")
    settings = load_settings()
    assert settings.audience == ("api-1", "api-2")
    assert settings.service_clients == ("svc-a", "svc-b")
    assert settings.bootstrap_admin == ("https://idp.example", "1234")
    assert settings.auto_migrate is False
    assert settings.database_url == "sqlite+aiosqlite:///./var/resource_api.db"
    assert (settings.host, settings.port, settings.leeway_s) == ("127.0.0.1", 8001, 30)
    assert settings.algorithms == ("RS256", "PS256", "ES256", "EdDSA")
    assert settings.admin_groups == ("admin",)
    with pytest.raises(Exception, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("value", "enforced"), [(None, False), ("true", True), ("false", False)])
def test_enforce_scopes(monkeypatch: pytest.MonkeyPatch, value: str | None, enforced: bool) -> None:
    monkeypatch.setenv("API_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("API_AUDIENCE", "api")
    if value is not None:
        monkeypatch.setenv("API_ENFORCE_SCOPES", value)
    assert load_settings().enforce_scopes is enforced


def test_enforce_scopes_must_be_a_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("API_AUDIENCE", "api")
    monkeypatch.setenv("API_ENFORCE_SCOPES", "sometimes")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert [p.split(":")[0] for p in caught.value.problems] == ["API_ENFORCE_SCOPES"]


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "API_OIDC_ISSUER=https://idp.example\nAPI_AUDIENCE=api\nAPI_PORT=9001\n"
    )
    assert load_settings().port == 9001


def test_every_problem_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_OIDC_ISSUER", "not a url")
    monkeypatch.setenv("API_ALGORITHMS", "RS256,HS256,none")
    monkeypatch.setenv("API_PORT", "0")
    monkeypatch.setenv("API_DATABASE_URL", "mysql://db/x")
    monkeypatch.setenv("API_BOOTSTRAP_ADMIN", "only-one-part")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    names = sorted(p.split(":")[0] for p in caught.value.problems)
    assert names == sorted(
        [
            "API_OIDC_ISSUER",
            "API_AUDIENCE",
            "API_ALGORITHMS",
            "API_PORT",
            "API_DATABASE_URL",
            "API_BOOTSTRAP_ADMIN",
        ]
    )


def test_repr_hides_the_database_password() -> None:
    settings = load_settings(
        {
            "oidc_issuer": "https://idp.example",
            "audience": "api",
            "database_url": "postgresql+asyncpg://app:s3cret@db/app",
        }
    )
    assert "s3cret" not in repr(settings)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    return subprocess.run(
        [sys.executable, "-m", "resource_api", *args],
        cwd=cwd,
        env={**base, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_exit_codes(tmp_path: Path) -> None:
    bad = _cli(["check-config"], {"API_LEEWAY_S": "-1"}, tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "API_OIDC_ISSUER",
        "API_AUDIENCE",
        "API_LEEWAY_S",
    ]
    good = _cli(
        ["check-config"], {"API_OIDC_ISSUER": "https://idp.example", "API_AUDIENCE": "a"}, tmp_path
    )
    assert good.returncode == 0, good.stderr
    serve = _cli([], {}, tmp_path)  # `serve` is the default and checks settings first
    assert serve.returncode == 2
    assert "API_OIDC_ISSUER" in serve.stderr
