"""Upstream failures: unreachable is 502, slow is 504."""

from pathlib import Path

import httpx
import pytest

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
