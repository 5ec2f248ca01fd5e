"""Redis gone after sign-in: every request that needs the store is a 503 with Retry-After
(never a 500, never a logout); navigations get the HTML error page; the session works again
once Redis is back."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bff.conftest import Harness, build_harness, redis_namespace
from tests.e2e.faults import FaultProxy

REDIS_PORT = 6379


@pytest.fixture
async def behind_relay(tmp_path: Path) -> AsyncIterator[tuple[Harness, FaultProxy]]:
    relay = FaultProxy(REDIS_PORT)
    async with redis_namespace() as (_, prefix):
        harness = build_harness(
            tmp_path,
            session_store="redis",
            redis_url=f"redis://127.0.0.1:{relay.port}/0",
            redis_prefix=prefix,
        )
        try:
            async with harness.client, harness.outbound:
                yield harness, relay
        finally:
            relay.restore()
            await harness.app.state.backends.aclose()
            relay.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/items"), ("POST", "/api/items"), ("GET", "/auth/me"), ("POST", "/auth/logout")],
)
async def test_store_outage_is_503_json_and_keeps_the_session(
    behind_relay: tuple[Harness, FaultProxy], method: str, path: str
) -> None:
    harness, relay = behind_relay
    await harness.login()
    relay.cut()
    response = await harness.api(path, method=method)
    assert response.status_code == 503
    assert response.json() == {"error": "session_store_unavailable"}
    assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers  # the browser keeps its session cookie
    relay.restore()
    assert (await harness.api("/auth/me")).status_code == 200


async def test_callback_during_a_store_outage_gets_the_error_page(
    behind_relay: tuple[Harness, FaultProxy],
) -> None:
    harness, relay = behind_relay
    query = await harness.start_login()
    code = harness.provider.approve(query)
    relay.cut()
    response = await harness.callback({"code": code, "state": query["state"], "iss": "x"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == "5"
