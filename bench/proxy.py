"""Proxy overhead: GET through the BFF with a session cookie vs straight to the upstream.

One run, one client, one upstream. Starts (on free 127.0.0.1 ports, as subprocesses) a
tiny upstream that also serves discovery, and the BFF (`python -m bff`). The session
cookie is sealed here with the BFF's own key, so no provider login is needed. Prints
requests/s, p50/p99 for both paths, their ratio and the BFF's CPU time per proxied
request (from /proc/<pid>/stat). Targets: ratio >= 0.8, <= 100 us CPU per request.

    uv run python bench/proxy.py [--requests 3000] [--concurrency 16]
"""

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bff.cookies import CookiePolicy  # noqa: E402
from bff.keyring import KeyRing  # noqa: E402
from bff.session.cookie import CookieSessionStore  # noqa: E402
from bff.session.model import Session  # noqa: E402
from bff.settings import parse_session_keys  # noqa: E402

UPSTREAM_APP = """
import json
ISSUER = "{issuer}"
DISCOVERY = json.dumps({{
    "issuer": ISSUER, "authorization_endpoint": ISSUER + "/authorize",
    "token_endpoint": ISSUER + "/token", "jwks_uri": ISSUER + "/jwks",
}}).encode()
BODY = json.dumps({{"items": [{{"id": i, "name": "product"}} for i in range(5)]}}).encode()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/.well-known/openid-configuration":
        body, status = DISCOVERY, 200
    elif path == "/jwks":
        body, status = b'{{"keys": []}}', 200
    else:
        auth = dict(scope["headers"]).get(b"authorization", b"")
        body, status = (BODY, 200) if auth == b"Bearer bench-token" else (b"{{}}", 401)
    await send({{"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]}})
    await send({{"type": "http.response.body", "body": body}})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


async def wait_ready(url: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < end:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def load(
    url: str, headers: dict[str, str], requests: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status_code}")

        for _ in range(50):  # warm up connections
            await client.get(url)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return elapsed, latencies


def report(name: str, elapsed: float, latencies: list[float]) -> float:
    latencies.sort()
    rps = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"{name:<10} {rps:9.0f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return rps


async def in_process_cpu(key: str, cookie: str, requests: int) -> float:
    """CPU per proxied request of the BFF app alone: ASGI in-process, upstream in memory.

    Separates what our code costs from the HTTP server and socket stack around it.
    """
    from bff.app import create_app
    from bff.settings import Settings

    async def upstream(scope: dict, receive: object, send: Any) -> None:
        body = b'{"items": []}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"13")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        oidc_issuer="http://127.0.0.1:9",
        client_id="bench",
        public_url="http://127.0.0.1:8000",
        session_keys=key,
        upstream_url="http://upstream.bench",
    )
    app = create_app(settings, upstream_transport=httpx.ASGITransport(app=upstream))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/items",
        "raw_path": b"/api/items",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode()), (b"x-csrf", b"1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    used = time.process_time() - start
    assert set(statuses) == {200}, set(statuses)
    return used / requests


def sealed_cookie(key: str) -> str:
    now = time.time()
    session = Session.new(
        sub="bench",
        sid=None,
        claims={"sub": "bench"},
        access_token="bench-token",
        access_expires_at=now + 86400,
        refresh_token=None,
        id_token=None,
        created_at=now,
        seen_at=now,
    )
    policy = CookiePolicy(secure=False, samesite="strict")
    store = CookieSessionStore(KeyRing(parse_session_keys(key)), policy)
    lines = asyncio.run(store.save(session, {}, 3600))
    return "; ".join(line.split(";", 1)[0] for line in lines)


async def measure(
    upstream_url: str,
    bff_url: str,
    cookie: str,
    key: str,
    pids: tuple[int, int],
    args: argparse.Namespace,
) -> None:
    bff_pid, upstream_pid = pids
    await wait_ready(f"{upstream_url}/.well-known/openid-configuration")
    await wait_ready(f"{bff_url}/healthz")
    up_before = cpu_seconds(upstream_pid)
    direct = await load(
        f"{upstream_url}/items",
        {"Authorization": "Bearer bench-token"},
        args.requests,
        args.concurrency,
    )
    up_used = cpu_seconds(upstream_pid) - up_before
    cpu_before = cpu_seconds(bff_pid)
    proxied = await load(
        f"{bff_url}/api/items", {"Cookie": cookie, "X-CSRF": "1"}, args.requests, args.concurrency
    )
    cpu_used = cpu_seconds(bff_pid) - cpu_before

    print(f"{args.requests} GETs per path, concurrency {args.concurrency}")
    direct_rps = report("direct", *direct)
    bff_rps = report("via BFF", *proxied)
    print(f"ratio      {bff_rps / direct_rps:.2f} (target >= 0.80)")
    cpu_us = cpu_used / args.requests * 1e6
    print(f"BFF CPU    {cpu_us:.0f} us per proxied request (target <= 100 us)")
    up_us = up_used / args.requests * 1e6
    print(f"reference  {up_us:.0f} us CPU per request in the bare upstream (uvicorn, raw ASGI)")
    app_us = await in_process_cpu(key, cookie, args.requests) * 1e6
    print(f"app only   {app_us:.0f} us CPU per proxied request (BFF app in-process, no sockets)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    up_port, bff_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    bff_url = f"http://127.0.0.1:{bff_port}"
    key = "bench:" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    with tempfile.TemporaryDirectory(prefix="bff-bench-") as app_dir:
        Path(app_dir, "bench_upstream.py").write_text(UPSTREAM_APP.format(issuer=upstream_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
        upstream = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench_upstream:app",
                "--port",
                str(up_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=app_dir,
            env={**env, "PYTHONPATH": app_dir},
        )
        bff_env = {
            **env,
            "PYTHONPATH": str(ROOT),
            "BFF_OIDC_ISSUER": upstream_url,
            "BFF_CLIENT_ID": "bench",
            "BFF_PUBLIC_URL": bff_url,
            "BFF_SESSION_KEYS": key,
            "BFF_UPSTREAM_URL": upstream_url,
            "BFF_PORT": str(bff_port),
            "BFF_LOG_LEVEL": "WARNING",
        }
        bff = subprocess.Popen([sys.executable, "-m", "bff"], cwd=ROOT, env=bff_env)
        try:
            cookie = sealed_cookie(key)
            asyncio.run(measure(upstream_url, bff_url, cookie, key, (bff.pid, upstream.pid), args))
        finally:
            for process in (bff, upstream):
                process.terminate()
                process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
