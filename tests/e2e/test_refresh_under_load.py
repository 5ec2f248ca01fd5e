"""Refresh with rotation under load: access tokens live a few seconds and 20 concurrent
proxied requests cross the refresh point. No request fails and the provider sees no
refresh-token reuse (which would have revoked the whole grant)."""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack, running_stack

ACCESS_TOKEN_TTL_S = 4
REFRESH_MARGIN_S = 1
CONCURRENCY = 20


@pytest.fixture(scope="module")
def short_lived() -> Iterator[E2EStack]:
    with running_stack(
        "refresh",
        access_token_ttl_s=ACCESS_TOKEN_TTL_S,
        bff_env={"BFF_REFRESH_MARGIN_S": str(REFRESH_MARGIN_S)},
    ) as running:
        yield running


async def _burst(bff_url: str, cookies: httpx.Cookies) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=bff_url, cookies=cookies, timeout=30) as client:
        return await asyncio.gather(
            *(client.get("/api/products", headers={"X-CSRF": "1"}) for _ in range(CONCURRENCY))
        )


def test_concurrent_requests_across_refresh_points(short_lived: E2EStack) -> None:
    with Browser(short_lived.bff_url) as browser:
        browser.login("alice")
        assert browser.api("GET", "/products").status_code == 200
        start = short_lived.provider_stats()

        # Three waves, each after the access token has entered the refresh margin (or expired).
        for _ in range(3):
            time.sleep(ACCESS_TOKEN_TTL_S - REFRESH_MARGIN_S + 0.5)
            # Every request carries the same (old) cookie, as parallel fetches from one page do.
            responses = asyncio.run(_burst(short_lived.bff_url, browser.client.cookies))
            failed = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200]
            assert not failed, failed
            # Keep the cookie the BFF re-issued, as the browser would.
            for response in responses:
                browser.client.cookies.extract_cookies(response)

        stats = short_lived.provider_stats()
        assert stats["refresh_token_reuse"] == 0, stats
        assert stats["grant_error"].get("refresh_token", 0) == 0, stats
        refreshed = stats["grant_success"].get("refresh_token", 0) - start["grant_success"].get(
            "refresh_token", 0
        )
        # One refresh per wave (single-flight); a slow machine may stretch a wave past the new
        # token's margin and refresh once more, which is fine. Reuse is what must never happen.
        assert 3 <= refreshed <= 6, stats
        assert browser.me().status_code == 200
