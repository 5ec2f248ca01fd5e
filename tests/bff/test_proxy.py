"""The proxy against real failure modes and a real (uvicorn) upstream for streaming."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message

from bff.proxy.paths import path_problem
from tests.bff.conftest import Harness, build_harness, cookie_header, raw_request


@asynccontextmanager
async def serving(
    app: ASGIApp, lifespan: Literal["auto", "on", "off"] = "off"
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port, in this event loop."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (httpx.ConnectError("refused"), 502),
        (httpx.RemoteProtocolError("bad"), 502),
        (httpx.ReadTimeout("slow"), 504),
        (httpx.ConnectTimeout("slow"), 504),
    ],
)
async def test_upstream_failures(tmp_path: Path, exc: Exception, status: int) -> None:
    harness = build_harness(tmp_path, upstream_transport=_raising(exc))
    async with harness.client, harness.outbound:
        await harness.login()
        response = await harness.api("/api/items")
        assert response.status_code == status
        ready = await harness.client.get("/readyz")
        assert ready.status_code == 503


async def test_body_method_query_forwarded(harness: Harness) -> None:
    await harness.login()
    response = await harness.api(
        "/api/products/7", method="PATCH", params={"a": "1", "b": "x y"}, json={"name": "tea"}
    )
    assert response.status_code == 200
    record = harness.upstream.received[-1]
    assert record["method"] == "PATCH"
    assert record["raw_path"] == "/products/7"
    assert record["query"] == "a=1&b=x+y"
    assert record["body"] == '{"name":"tea"}'
    assert harness.upstream.headers_of()["content-type"] == ["application/json"]


async def test_request_id_kept_when_sane_replaced_otherwise(harness: Harness) -> None:
    await harness.login()
    await harness.api("/api/items", headers={"X-Request-ID": "req-12345678"})
    assert harness.upstream.headers_of()["x-request-id"] == ["req-12345678"]
    response = await harness.api("/api/items", headers={"X-Request-ID": "bad id\twith spaces"})
    forwarded = harness.upstream.headers_of()["x-request-id"]
    assert forwarded != ["bad id\twith spaces"]
    assert len(forwarded) == 1
    assert response.headers["x-request-id"] == forwarded[0]


async def test_api_root_and_unknown_auth_paths(harness: Harness) -> None:
    await harness.login()
    assert (await harness.api("/api")).status_code == 200
    assert (await harness.client.get("/auth/nope")).status_code == 404
    assert (await harness.client.get("/api/x")).status_code == 403  # no CSRF header


def test_path_problem_accepts_ordinary_paths() -> None:
    for ok in (b"products", b"products/7/inventory", b"a%20b", b"caf%C3%A9", b"x/", b""):
        assert path_problem(ok) is None, ok


async def test_sse_arrives_event_by_event(tmp_path: Path) -> None:
    probe = build_harness(tmp_path)  # only for its upstream app
    upstream = probe.upstream
    upstream.sse_gate = asyncio.Event()
    async with serving(upstream.app) as upstream_url:
        harness = build_harness(tmp_path, upstream_url=upstream_url)
        async with harness.client, harness.outbound, serving(harness.app, "on") as bff_url:
            await harness.login()
            cookies = harness.session_cookies()
            header = cookie_header(cookies)[1].decode()
            async with (
                httpx.AsyncClient() as browser,
                browser.stream(
                    "GET",
                    f"{bff_url}/api/sse",
                    headers={"Cookie": header, "Sec-Fetch-Site": "same-origin"},
                ) as response,
            ):
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                first = await asyncio.wait_for(anext(lines), 5)
                # the upstream has not produced event two yet: one reached us alone
                assert first == "data: one"
                assert not upstream.sse_gate.is_set()
                upstream.sse_gate.set()
                rest = [line async for line in lines if line]
                assert rest == ["data: two"]
    await probe.client.aclose()
    await probe.outbound.aclose()


async def test_streamed_request_body(harness: Harness) -> None:
    await harness.login()

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"a" * 1000, b"b" * 1000):
            yield part

    response = await harness.api("/api/upload", method="POST", content=chunks())
    assert response.status_code == 200
    assert harness.upstream.received[-1]["body"] == "a" * 1000 + "b" * 1000


async def test_head_and_options(harness: Harness) -> None:
    await harness.login()
    cookies = harness.session_cookies()
    head = await raw_request(
        harness.app, "HEAD", b"/api/items", [cookie_header(cookies), (b"x-csrf", b"1")]
    )
    assert head.status == 200
    assert head.body == b""


# --- input-driven 500s and path/header smuggling (review M5, L2, L3, L4) ---------------


@pytest.mark.parametrize(
    "raw",
    [
        b"/api/a?x#y",
        b"/api/a#y",
        b"/api/a\xff",
        b"/api/a?\xff",
        b"/api/a?x\x7f",
        b"/%61pi/b",
        b"/%61pi",
        b"/api//b",
        b"/api/..;/admin",
        b"/api/a/.;x/b",
        b"/api/%2e%2e;/admin",
    ],
)
async def test_unforwardable_paths_are_400(harness: Harness, raw: bytes) -> None:
    await harness.login()
    headers = [cookie_header(harness.session_cookies()), (b"x-csrf", b"1")]
    # the server decodes the path for routing (`/%61pi` routes as `/api`), not raw_path
    path = unquote_to_bytes(raw.split(b"?")[0].split(b"#")[0]).decode("latin-1")
    response = await raw_request(harness.app, "GET", raw, headers, path=path)
    assert response.status == 400, raw
    assert b"invalid_path" in response.body
    assert not harness.upstream.received


async def test_routing_and_method_override_headers_are_dropped(harness: Harness) -> None:
    await harness.login()
    names = [
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ]
    response = await harness.api("/api/items", headers={n: "/admin" for n in names})
    assert response.status_code == 200
    received = harness.upstream.headers_of()
    assert not {n.lower() for n in names} & set(received)


def _answering(headers: list[tuple[str, str]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        # a fresh stream: the proxy reads the raw body itself
        return httpx.Response(
            200, headers=[*headers, ("content-length", "2")], stream=httpx.ByteStream(b"{}")
        )

    return httpx.MockTransport(handler)


async def test_upstream_headers_that_act_on_the_origin_are_dropped(tmp_path: Path) -> None:
    upstream_headers = [
        ("Service-Worker-Allowed", "/"),
        ("Clear-Site-Data", '"*"'),
        ("Access-Control-Allow-Origin", "https://evil.test"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Refresh", "0; url=https://evil.test"),
        ("X-Content-Type-Options", "sniff-away"),
        ("Content-Type", "application/json"),
    ]
    harness = build_harness(tmp_path, upstream_transport=_answering(upstream_headers))
    async with harness.client, harness.outbound:
        await harness.login()
        response = await harness.api("/api/items")
        assert response.status_code == 200
        for name in ("service-worker-allowed", "clear-site-data", "refresh"):
            assert name not in response.headers
        assert not any(k.startswith("access-control-") for k in response.headers)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers["cache-control"] == "private, no-store"
        assert "sandbox" in response.headers["content-security-policy"]


async def test_upstream_cache_control_is_kept(tmp_path: Path) -> None:
    transport = _answering([("Cache-Control", "public, max-age=60")])
    harness = build_harness(tmp_path, upstream_transport=transport)
    async with harness.client, harness.outbound:
        await harness.login()
        response = await harness.api("/api/items")
        assert response.headers.get_list("cache-control") == ["public, max-age=60"]


def test_path_problem_refuses_matrix_dot_segments() -> None:
    for bad in (b"..;/admin", b"a/..;x/b", b".;/a", b"%2e%2e;x/a", b"a#b", b"a b", b"/a"):
        assert path_problem(bad) is not None, bad


# --- a client that leaves stops a large fixed-length relay (review L6) -----------------


class _HugeBody(httpx.AsyncByteStream):
    CHUNKS = 2000  # of 64 KiB: 125 MiB

    def __init__(self) -> None:
        self.served = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.CHUNKS):
            self.served += 1
            await asyncio.sleep(0)
            yield b"x" * 65536

    async def aclose(self) -> None:
        self.closed = True


async def test_client_disconnect_stops_a_large_fixed_length_relay(tmp_path: Path) -> None:
    body = _HugeBody()

    def handler(request: httpx.Request) -> httpx.Response:
        length = str(body.CHUNKS * 65536)
        return httpx.Response(200, headers={"content-length": length}, stream=body)

    harness = build_harness(tmp_path, upstream_transport=httpx.MockTransport(handler))
    async with harness.client, harness.outbound:
        await harness.login()
        cookies = harness.session_cookies()
        sent: list[Message] = []
        received = 0

        async def receive() -> Message:
            nonlocal received
            received += 1
            if received == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            while len([m for m in sent if m["type"] == "http.response.body"]) < 5:
                await asyncio.sleep(0)
            return {"type": "http.disconnect"}  # the browser tab closed

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": "/api/big",
            "raw_path": b"/api/big",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"app.test"), cookie_header(cookies), (b"x-csrf", b"1")],
            "client": ("203.0.113.7", 4711),
            "server": ("app.test", 443),
            "state": {},
        }
        await asyncio.wait_for(harness.app(scope, receive, send), 10)
        assert sent[0]["status"] == 200
        assert body.served < body.CHUNKS // 2
        assert body.closed
