"""Upstream failures: unreachable is 502, slow is 504."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.errors import UpstreamUnavailable
from bff.proxy.upstream import Upstream
from tests.bff.conftest import build_harness


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


class _StaleOnce(httpx.AsyncBaseTransport):
    """Fails the first request as a keep-alive connection closed by the server does."""

    def __init__(self, failure: Exception) -> None:
        self.failure: Exception | None = failure
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        return httpx.Response(200, json={"ok": True})


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.WriteError("broken pipe"),
    ],
)
async def test_a_stale_connection_is_retried_once_for_a_bodiless_get(
    failure: Exception,
) -> None:
    transport = _StaleOnce(failure)
    upstream = Upstream("http://api.test", transport, timeout_s=5)
    response = await upstream.send("GET", upstream.target(b"items", b""), [], None)
    assert response.status_code == 200
    assert transport.calls == 2


async def test_a_request_with_a_body_or_not_idempotent_is_never_replayed() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    for method, content in (("POST", None), ("PUT", body())):
        transport = _StaleOnce(httpx.ReadError("reset"))
        upstream = Upstream("http://api.test", transport, timeout_s=5)
        with pytest.raises(UpstreamUnavailable):
            await upstream.send(method, upstream.target(b"items", b""), [], content)
        assert transport.calls == 1


async def test_a_refused_connection_is_not_retried() -> None:
    transport = _StaleOnce(httpx.ConnectError("refused"))
    upstream = Upstream("http://api.test", transport, timeout_s=5)
    with pytest.raises(UpstreamUnavailable):
        await upstream.send("GET", upstream.target(b"items", b""), [], None)
    assert transport.calls == 1
