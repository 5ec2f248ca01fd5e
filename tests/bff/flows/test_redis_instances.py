"""Two BFF instances sharing Redis: sessions, back-channel logout and refresh cross over."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.bff.conftest import (
    REDIS_URL,
    Harness,
    Polling,
    build_harness,
    cookie_header,
    raw_request,
    redis_namespace,
)


@pytest.fixture
def polling() -> Polling:
    return Polling()


@asynccontextmanager
async def two_instances(
    tmp_path: Path, polling: Polling, session_store: str
) -> AsyncIterator[tuple[Harness, Starlette]]:
    """Two BFF instances on one Redis namespace, with `session_store` for the sessions."""
    async with redis_namespace() as (_, prefix):
        harness = build_harness(
            tmp_path,
            lock_wait=polling.lock_wait,
            session_store=session_store,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
        )
        other = harness.instance()
        try:
            yield harness, other
        finally:
            await harness.client.aclose()
            await harness.outbound.aclose()
            await harness.app.state.backends.aclose()
            await other.state.backends.aclose()


@pytest.fixture
async def pair(tmp_path: Path, polling: Polling) -> AsyncIterator[tuple[Harness, Starlette]]:
    async with two_instances(tmp_path, polling, "redis") as instances:
        yield instances


async def _status(app: Starlette, path: bytes, cookies: dict[str, str]) -> int:
    response = await raw_request(app, "GET", path, [cookie_header(cookies), (b"x-csrf", b"1")])
    return response.status


async def test_session_works_on_the_other_instance(pair: tuple[Harness, Starlette]) -> None:
    harness, other = pair
    await harness.login()
    cookies = harness.session_cookies()
    assert list(cookies) == ["__Host-Http-bff-session"]
    assert len(cookies["__Host-Http-bff-session"]) < 400  # only a sealed id
    assert await _status(other, b"/auth/me", cookies) == 200
    assert await _status(other, b"/api/items", cookies) == 200


async def test_backchannel_logout_reaches_every_instance(pair: tuple[Harness, Starlette]) -> None:
    harness, other = pair
    await harness.login(sid="sid-R")
    cookies = harness.session_cookies()
    response = await harness.client.post(
        "/auth/backchannel-logout",
        data={"logout_token": harness.provider.logout_token(sid="sid-R")},
    )
    assert response.status_code == 200
    assert await _status(other, b"/auth/me", cookies) == 401
    # and the same logout token replayed at the other instance is refused
    replay = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other), base_url="https://app.test"
    )
    async with replay:
        again = await replay.post(
            "/auth/backchannel-logout",
            data={"logout_token": harness.provider.logout_token(sid="sid-R", jti="fixed")},
        )
        assert again.status_code == 200
        twice = await replay.post(
            "/auth/backchannel-logout",
            data={"logout_token": harness.provider.logout_token(sid="sid-R", jti="fixed")},
        )
        assert twice.status_code == 400


async def test_logout_on_one_instance_ends_the_session_everywhere(
    pair: tuple[Harness, Starlette],
) -> None:
    harness, other = pair
    await harness.login()
    cookies = harness.session_cookies()
    assert (await harness.api("/auth/logout", method="POST")).status_code == 200
    assert await _status(other, b"/auth/me", cookies) == 401


async def test_refresh_race_across_instances(
    pair: tuple[Harness, Starlette], polling: Polling
) -> None:
    harness, other = pair
    await harness.login()
    cookies = harness.session_cookies()
    harness.clock.advance(250)
    gate = harness.provider.refresh_gate = asyncio.Event()
    apps = [harness.app, other] * 10
    tasks = [asyncio.ensure_future(_status(app, b"/api/items", cookies)) for app in apps]
    await harness.provider.refresh_started.wait()
    await polling.started.wait()  # the other instance is now polling for the result
    gate.set()
    assert await asyncio.gather(*tasks) == [200] * 20
    assert harness.provider.refresh_calls == 1
    assert not harness.provider.revoked_grants


# --- cookie sessions with BFF_REDIS_URL: revocations and refresh still shared (review M3) --


@pytest.fixture
async def cookie_pair(tmp_path: Path, polling: Polling) -> AsyncIterator[tuple[Harness, Starlette]]:
    async with two_instances(tmp_path, polling, "cookie") as instances:
        yield instances


async def test_cookie_store_backchannel_logout_reaches_every_instance(
    cookie_pair: tuple[Harness, Starlette],
) -> None:
    harness, other = cookie_pair
    await harness.login(sid="sid-C")
    cookies = harness.session_cookies()
    assert len(cookies["__Host-Http-bff-session"]) > 400  # the tokens live in the cookie
    assert await _status(other, b"/auth/me", cookies) == 200
    response = await harness.client.post(
        "/auth/backchannel-logout",
        data={"logout_token": harness.provider.logout_token(sid="sid-C")},
    )
    assert response.status_code == 200
    assert await _status(other, b"/auth/me", cookies) == 401
    assert await _status(other, b"/api/items", cookies) == 401


async def test_cookie_store_copied_cookie_after_logout_refused_after_restart(
    cookie_pair: tuple[Harness, Starlette],
) -> None:
    harness, _ = cookie_pair
    await harness.login()
    copy = harness.session_cookies()
    assert (await harness.api("/auth/logout", method="POST")).status_code == 200
    restarted = harness.instance()
    try:
        assert await _status(restarted, b"/auth/me", copy) == 401
    finally:
        await restarted.state.backends.aclose()


async def test_cookie_store_refresh_race_across_instances(
    cookie_pair: tuple[Harness, Starlette], polling: Polling
) -> None:
    harness, other = cookie_pair
    await harness.login()
    cookies = harness.session_cookies()
    harness.clock.advance(250)
    gate = harness.provider.refresh_gate = asyncio.Event()
    tasks = [
        asyncio.ensure_future(_status(app, b"/api/items", cookies))
        for app in [harness.app, other] * 5
    ]
    await harness.provider.refresh_started.wait()
    await polling.started.wait()
    gate.set()
    assert await asyncio.gather(*tasks) == [200] * 10
    assert harness.provider.refresh_calls == 1
    assert not harness.provider.revoked_grants


async def test_waiting_instance_learns_a_failed_refresh_at_once(
    pair: tuple[Harness, Starlette], polling: Polling
) -> None:
    """review L6: the lock holder's invalid_grant reaches the waiter (401, not a 504 after
    polling for the lock's 15 s)."""
    harness, other = pair
    await harness.login()
    cookies = harness.session_cookies()
    harness.clock.advance(250)
    gate = harness.provider.refresh_gate = asyncio.Event()
    holder = asyncio.ensure_future(_status(harness.app, b"/api/items", cookies))
    await harness.provider.refresh_started.wait()
    waiter = asyncio.ensure_future(_status(other, b"/api/items", cookies))
    await polling.started.wait()  # the other instance is polling
    harness.provider.refresh_tokens.clear()  # the grant is gone: invalid_grant
    gate.set()
    started = asyncio.get_running_loop().time()
    assert await holder == 401
    assert await asyncio.wait_for(waiter, 5) == 401
    assert asyncio.get_running_loop().time() - started < 2
    assert harness.provider.refresh_calls == 1


async def test_waiting_instance_tries_itself_when_the_holder_gives_up(
    pair: tuple[Harness, Starlette], polling: Polling
) -> None:
    """review L6: a holder that fails without an outcome (provider 503) releases the lock;
    the waiter refreshes itself instead of polling for 15 s and answering 504."""
    harness, other = pair
    await harness.login()
    cookies = harness.session_cookies()
    harness.clock.advance(250)  # due, still valid
    gate, arrived = asyncio.Event(), asyncio.Event()
    calls = 0

    async def unavailable(request: Request) -> Response:
        nonlocal calls
        calls += 1
        arrived.set()
        if calls == 1:
            await gate.wait()
        return Response(status_code=503)

    harness.provider.app.router.routes[2] = Route("/token", unavailable, methods=["POST"])
    holder = asyncio.ensure_future(_status(harness.app, b"/api/items", cookies))
    await arrived.wait()
    waiter = asyncio.ensure_future(_status(other, b"/api/items", cookies))
    await polling.started.wait()  # the other instance is polling
    gate.set()
    started = asyncio.get_running_loop().time()
    assert await holder == 200  # the still-valid token is used
    assert await asyncio.wait_for(waiter, 5) == 200
    assert asyncio.get_running_loop().time() - started < 2
    assert calls == 2
