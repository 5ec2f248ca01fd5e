"""`python -m resource_api` as a process: migrates at start, serves, stops on SIGTERM."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    env.update(
        API_OIDC_ISSUER="https://idp.invalid",
        API_AUDIENCE="api",
        API_PORT=str(port),
        PYTHONPATH=str(ROOT),
        **settings,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "resource_api"],
        cwd=tmp_path,  # the default database is ./var/resource_api.db
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port


def _wait_healthy(process: subprocess.Popen[str], port: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)


def _tables(tmp_path: Path) -> set[str]:
    database = tmp_path / "var" / "resource_api.db"
    with sqlite3.connect(database) as connection:
        return {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}


def test_serve_migrates_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, port = _start(tmp_path)
    try:
        response = _wait_healthy(process, port)
        assert response.json() == {"status": "ok"}
        assert response.headers["x-request-id"]
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/products", timeout=5)
        assert unauthenticated.status_code == 401
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert {"users", "products", "inventory", "alembic_version"} <= _tables(tmp_path)


def test_serve_without_auto_migrate_leaves_the_schema_alone(tmp_path: Path) -> None:
    process, port = _start(tmp_path, API_AUTO_MIGRATE="false")
    try:
        assert _wait_healthy(process, port).status_code == 200
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "alembic_version" not in _tables(tmp_path)


def test_serve_never_logs_query_strings(tmp_path: Path) -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2VjcmV0LXNpZ25hdHVyZQ"
    process, port = _start(tmp_path)
    try:
        _wait_healthy(process, port)
        response = httpx.get(
            f"http://127.0.0.1:{port}/products?access_token={secret}",
            headers={"X-Request-ID": "token-in-query"},
            timeout=5,
        )
        assert response.status_code == 401
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert secret not in output
    assert "access_token" not in output
    # our access line (uvicorn's, which would show the query, is off), with the request id
    assert "[token-in-query] resource_api.access: GET /products 401 " in output
