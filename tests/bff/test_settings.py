"""Settings and the command line: every problem at once, exit 2, no secret printed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bff.__main__ import main
from bff.keyring import generate_key
from bff.settings import load_settings, parse_session_keys
from shared.settings import SettingsError
from tests.bff.conftest import KEY_A

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "BFF_OIDC_ISSUER": "https://idp.test",
    "BFF_CLIENT_ID": "bff",
    "BFF_PUBLIC_URL": "https://app.test",
    "BFF_SESSION_KEYS": KEY_A,
    "BFF_UPSTREAM_URL": "http://127.0.0.1:8001",
}


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    return subprocess.run(
        [sys.executable, "-m", "bff", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("BFF_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    result = _run(
        {"BFF_SESSION_KEYS": "k1:c2VjcmV0", "BFF_PORT": "99999", "BFF_COOKIE_SAMESITE": "none"},
        "check-config",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    names = {line.split(":", 1)[0] for line in lines}
    assert {
        "BFF_OIDC_ISSUER",
        "BFF_CLIENT_ID",
        "BFF_PUBLIC_URL",
        "BFF_UPSTREAM_URL",
        "BFF_SESSION_KEYS",
        "BFF_PORT",
        "BFF_COOKIE_SAMESITE",
    } <= names
    assert "Traceback" not in result.stderr
    assert "c2VjcmV0" not in result.stderr


def test_check_config_ok_and_reads_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in GOOD.items()))
    result = _run({}, "check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert KEY_A.split(":")[1] not in result.stdout + result.stderr


def test_serve_with_bad_settings_exits_2(tmp_path: Path) -> None:
    result = _run({}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "BFF_SESSION_KEYS: is required" in result.stderr


def test_keys_generate_prints_one_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate"]) == 0
    line = capsys.readouterr().out.strip()
    keys = parse_session_keys(line)
    assert len(keys) == 1
    assert len(keys[0].secret) == 32
    assert generate_key() != line


@pytest.mark.parametrize(
    ("public_url", "allow", "ok"),
    [
        ("http://app.example.com", "false", False),
        ("http://app.example.com", "true", True),
        ("http://127.0.0.1:8000", "false", True),
        ("http://localhost:8000", "false", True),
        ("http://[::1]:8000", "false", True),
        ("https://app.example.com", "false", True),
        ("https://app.example.com/path", "false", False),
    ],
)
def test_insecure_public_url(
    env: pytest.MonkeyPatch, public_url: str, allow: str, ok: bool
) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("BFF_PUBLIC_URL", public_url)
    env.setenv("BFF_ALLOW_INSECURE_HTTP", allow)
    if ok:
        assert load_settings().public_url == public_url.rstrip("/")
    else:
        with pytest.raises(SettingsError) as info:
            load_settings()
        assert info.value.problems[0].startswith("BFF_PUBLIC_URL:")


@pytest.mark.parametrize(
    "raw",
    ["", "nokey", "a:short", "a:!!!!", f"{KEY_A},{KEY_A}", "bad kid:" + "A" * 43],
)
def test_bad_session_keys(raw: str) -> None:
    with pytest.raises(ValueError, match=r".") as info:
        parse_session_keys(raw)
    assert "A" * 43 not in str(info.value)


def test_settings_secrets_hidden(env: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("BFF_CLIENT_SECRET", "topsecret")
    settings = load_settings()
    assert "topsecret" not in repr(settings)
    assert KEY_A.split(":")[1] not in repr(settings)


def test_redis_store_requires_url(env: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("BFF_SESSION_STORE", "redis")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert info.value.problems == ["BFF_REDIS_URL: required when BFF_SESSION_STORE=redis"]


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    env = {
        **clean,
        **GOOD,
        "PYTHONPATH": str(ROOT),
        "BFF_PORT": str(port),
        "BFF_OIDC_ISSUER": "http://127.0.0.1:9",  # unreachable: readiness only
        "BFF_UPSTREAM_URL": "http://127.0.0.1:9",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bff"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("BFF did not start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BFF_LOG_LEVEL", "bogus"),
        ("BFF_REDIS_URL", "notaurl"),
        ("BFF_REDIS_URL", "redis://user:hunter2@host:notaport/0"),
    ],
)
def test_log_level_and_redis_url_are_checked_up_front(
    tmp_path: Path, name: str, value: str
) -> None:
    for command in ("check-config", "serve"):
        result = _run({**GOOD, name: value}, command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{name}:"), lines
        assert "hunter2" not in result.stderr


def test_log_level_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("BFF_LOG_LEVEL", "debug")
    env.setenv("BFF_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert load_settings().log_level == "DEBUG"
