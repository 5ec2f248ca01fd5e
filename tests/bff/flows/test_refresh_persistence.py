"""A rotated refresh token is persisted before the session is used for anything else.

RFC 9700 §4.14.2: once the provider has rotated a refresh token, the old one is spent;
replaying it later revokes the whole grant. So the new tokens must outlive every way the
request can end: an upstream that is down (502), slow (504), refuses the token and then
fails on the retry, or a client that leaves mid-request. The refresh-result cache only
covers these for `cache_ttl` seconds; these tests wait past it.
"""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.bff.conftest import (
    REDIS_URL,
    Harness,
    build_harness,
    cookie_header,
    raw_request,
)

#: past the refresh-result cache (upstream timeout 30 s + 30 s) and the access token (300 s),
#: within the idle limit (3600 s)
LONG_AFTER_S = 900


class SwitchableUpstream(httpx.AsyncBaseTransport):
    """The recording upstream, or a failure while `failure` is set; `hang` holds requests."""

    def __init__(self) -> None:
        self.inner: httpx.AsyncBaseTransport | None = None
        self.failure: Exception | None = None
        self.fail_after: int | None = None  # let this many requests through, then fail
        self.hang: asyncio.Event | None = None
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.hang is not None:
            await self.hang.wait()
        if self.failure is not None and (self.fail_after is None or self.calls > self.fail_after):
            raise self.failure
        assert self.inner is not None
        return await self.inner.handle_async_request(request)


def _harness(tmp_path: Path, **overrides: Any) -> tuple[Harness, SwitchableUpstream]:
    switch = SwitchableUpstream()
    harness = build_harness(tmp_path, upstream_transport=switch, **overrides)
    switch.inner = httpx.ASGITransport(app=harness.upstream.app)
    return harness, switch


async def _later_requests_keep_the_grant(
    harness: Harness, switch: SwitchableUpstream, redis: tuple[Redis, str] | None = None
) -> None:
    """Long after the failed request, the session still refreshes without a replay."""
    switch.failure = None
    switch.fail_after = None
    harness.clock.advance(LONG_AFTER_S)
    if redis is not None:  # Redis expires keys on its own clock: expire the results now
        client, prefix = redis
        keys = [k async for k in client.scan_iter(match=prefix + "refresh:*")]
        assert keys, "the refresh result was not published"
        await client.delete(*keys)
    response = await harness.api("/api/items")
    assert response.status_code == 200, response.text
    assert not harness.provider.revoked_grants, "a rotated refresh token was replayed"
    assert harness.provider.refresh_calls == 2


@pytest.mark.parametrize(
    ("failure", "status"),
    [(httpx.ConnectError("refused"), 502), (httpx.ReadTimeout("slow"), 504)],
)
async def test_cookie_store_upstream_failure_after_refresh_carries_the_new_cookie(
    tmp_path: Path, failure: Exception, status: int
) -> None:
    harness, switch = _harness(tmp_path)
    async with harness.client, harness.outbound:
        await harness.login()
        before = harness.session_cookies()
        harness.clock.advance(400)  # the access token has expired: refresh first
        switch.failure = failure
        response = await harness.api("/api/items")
        assert response.status_code == status
        assert harness.provider.refresh_calls == 1
        assert "set-cookie" in response.headers, "the rotated refresh token was dropped"
        assert harness.session_cookies() != before
        await _later_requests_keep_the_grant(harness, switch)


async def test_cookie_store_failure_on_the_401_retry_carries_the_new_cookie(
    tmp_path: Path,
) -> None:
    harness, switch = _harness(tmp_path)
    async with harness.client, harness.outbound:
        await harness.login()
        harness.upstream.valid_tokens = set()  # the API refuses the current token...
        switch.failure = httpx.ConnectError("refused")
        switch.fail_after = switch.calls + 1  # ...and is gone when the retry comes
        response = await harness.api("/api/items")
        assert response.status_code == 502
        assert harness.provider.refresh_calls == 1
        assert "set-cookie" in response.headers
        harness.upstream.valid_tokens = None
        await _later_requests_keep_the_grant(harness, switch)


@pytest.mark.parametrize(
    ("failure", "status"),
    [(httpx.ConnectError("refused"), 502), (httpx.ReadTimeout("slow"), 504)],
)
async def test_redis_store_saves_the_refreshed_session_before_the_upstream_call(
    tmp_path: Path, redis: tuple[Redis, str], failure: Exception, status: int
) -> None:
    harness, switch = _harness(
        tmp_path, session_store="redis", redis_url=REDIS_URL, redis_prefix=redis[1]
    )
    async with harness.client, harness.outbound:
        try:
            await harness.login()
            harness.clock.advance(400)
            switch.failure = failure
            assert (await harness.api("/api/items")).status_code == status
            await _later_requests_keep_the_grant(harness, switch, redis)
        finally:
            await harness.app.state.backends.aclose()


async def test_redis_store_client_gone_during_the_upstream_call(
    tmp_path: Path, redis: tuple[Redis, str]
) -> None:
    harness, switch = _harness(
        tmp_path, session_store="redis", redis_url=REDIS_URL, redis_prefix=redis[1]
    )
    async with harness.client, harness.outbound:
        try:
            await harness.login()
            cookies = harness.session_cookies()
            harness.clock.advance(400)
            switch.hang = asyncio.Event()
            request = asyncio.ensure_future(
                raw_request(
                    harness.app, "GET", b"/api/items", [cookie_header(cookies), (b"x-csrf", b"1")]
                )
            )
            while switch.calls == 0:  # refreshed, and now waiting on the upstream
                await asyncio.sleep(0.01)
            request.cancel()  # the browser went away: nothing is ever sent back
            with pytest.raises(asyncio.CancelledError):
                await request
            switch.hang = None
            await _later_requests_keep_the_grant(harness, switch, redis)
        finally:
            await harness.app.state.backends.aclose()
