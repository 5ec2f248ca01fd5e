"""A refresh storm: many sessions whose access tokens are all due at once, each hit by many
concurrent requests spread over two BFF instances sharing Redis.

RFC 9700 §4.14.2: the provider rotates refresh tokens and revokes the whole grant when a
rotated one comes back. So the storm must cost exactly one token-endpoint call per session,
never a replay, and no request may fail. `tests/e2e/test_refresh_storm.py` runs a small
storm in CI; `bench/refresh_storm.py` runs the full one (500 sessions) and prints figures.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack, running_stack

REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/0")
#: the access tokens' refresh margin, in seconds: a token is due this long before it expires
REFRESH_MARGIN_S = 5
#: connections of the load generator: httpx's pool gets slower per request with every
#: connection it holds, so a few more than the BFF's cores keep it from being the bottleneck
CLIENT_CONNECTIONS = 32


@dataclass
class StormReport:
    sessions: int
    per_session: int
    latencies_s: list[float] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    refresh_calls: int = 0
    reuse_events: int = 0
    refresh_errors: int = 0
    wall_s: float = 0.0

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        requests = self.sessions * self.per_session
        return (
            f"{self.sessions} sessions x {self.per_session} concurrent requests = {requests}, "
            f"2 BFF instances on Redis: {len(self.failures)} failures, "
            f"{self.refresh_calls} token-endpoint refresh calls "
            f"({self.refresh_calls / self.sessions:.2f} per session), "
            f"{self.reuse_events} reuse events, {self.refresh_errors} refresh errors; "
            f"p50 {self.quantile_ms(0.5):.0f} ms, p99 {self.quantile_ms(0.99):.0f} ms, "
            f"mean {1000 * statistics.fmean(self.latencies_s):.0f} ms, "
            f"{requests / self.wall_s:.0f} req/s over {self.wall_s:.1f} s"
        )


@contextmanager
def storm_stack(name: str, access_token_ttl_s: int) -> Iterator[tuple[E2EStack, str]]:
    """The e2e stack with the BFF on the Redis store, and a second instance; yields the stack
    and the second instance's URL.

    The storm starts once every session's token is due (`access_token_ttl_s` minus the margin
    after the last login) and must end before the refreshed tokens are due in turn, or their
    second, legitimate refresh would be counted too: size the lifetime for the storm."""
    env = {
        "BFF_SESSION_STORE": "redis",
        "BFF_REDIS_URL": REDIS_URL,
        "BFF_REDIS_PREFIX": f"e2e-storm-{secrets.token_hex(4)}:",
        "BFF_REFRESH_MARGIN_S": str(REFRESH_MARGIN_S),
    }
    with running_stack(name, access_token_ttl_s=access_token_ttl_s, bff_env=env) as stack:
        yield stack, stack.start_another_bff(f"{name}-bff-2")


def _login(bff_url: str) -> httpx.Cookies:
    with Browser(bff_url) as browser:
        browser.login(f"s{secrets.token_hex(5)}")
        return httpx.Cookies(browser.client.cookies)


def run_storm(
    stack: E2EStack, second_bff: str, *, sessions: int, per_session: int, logins_at_once: int = 8
) -> StormReport:
    report = StormReport(sessions, per_session)
    with ThreadPoolExecutor(logins_at_once) as pool:
        jars = list(pool.map(_login, [stack.bff_url] * sessions))
    last_login = time.monotonic()
    # every session's access token is now due (within the margin) or expired, none refreshed
    due_after = stack.access_token_ttl_s - REFRESH_MARGIN_S + 1
    time.sleep(max(0.0, due_after - (time.monotonic() - last_login)))
    before = stack.provider_stats()
    started = time.monotonic()
    asyncio.run(_storm(report, [stack.bff_url, second_bff], jars))
    report.wall_s = time.monotonic() - started
    after = stack.provider_stats()
    report.refresh_calls = after["grant_success"].get("refresh_token", 0) - before[
        "grant_success"
    ].get("refresh_token", 0)
    report.refresh_errors = after["grant_error"].get("refresh_token", 0) - before[
        "grant_error"
    ].get("refresh_token", 0)
    report.reuse_events = after["refresh_token_reuse"] - before["refresh_token_reuse"]
    return report


async def _storm(report: StormReport, bffs: list[str], jars: list[httpx.Cookies]) -> None:
    limits = httpx.Limits(
        max_connections=CLIENT_CONNECTIONS, max_keepalive_connections=CLIENT_CONNECTIONS
    )
    async with httpx.AsyncClient(limits=limits, timeout=120, trust_env=False) as client:

        async def one(url: str, jar: httpx.Cookies) -> None:
            # every request of a session carries the same (old) cookie, as parallel fetches
            # from one page do; the Cookie header is set by hand so no jar is shared
            cookie = "; ".join(f"{c.name}={c.value}" for c in jar.jar)
            start = time.monotonic()
            try:
                response = await client.get(
                    f"{url}/api/products?limit=1", headers={"X-CSRF": "1", "Cookie": cookie}
                )
            except httpx.HTTPError as exc:
                report.failures.append((0, type(exc).__name__))
                return
            report.latencies_s.append(time.monotonic() - start)
            if response.status_code != 200:
                report.failures.append((response.status_code, response.text[:120]))

        await asyncio.gather(
            *(one(bffs[i % len(bffs)], jar) for jar in jars for i in range(report.per_session))
        )
