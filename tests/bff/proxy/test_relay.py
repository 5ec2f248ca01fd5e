"""The relay against a real (uvicorn) upstream for streaming, HEAD, and a client that
leaves mid-body."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import httpx
import uvicorn
from starlette.types import ASGIApp, Message

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


async def test_head_and_options(harness: Harness) -> None:
    await harness.login()
    cookies = harness.session_cookies()
    head = await raw_request(
        harness.app, "HEAD", b"/api/items", [cookie_header(cookies), (b"x-csrf", b"1")]
    )
    assert head.status == 200
    assert head.body == b""


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
