import asyncio

import pytest

from shared.errors import ProviderError
from shared.freshness import Freshness
from tests.support.clock import FakeClock


class Source:
    """A fetch that counts its calls and fails on demand."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ProviderError("down")


def schedule(source: Source, clock: FakeClock) -> Freshness:
    return Freshness(source, what="doc", ttl_s=60, error_backoff_s=5, clock=clock)


async def test_fresh_for_the_ttl_then_refetched() -> None:
    source, clock = Source(), FakeClock()
    fresh = schedule(source, clock)
    assert await fresh.refresh_if_stale() is True
    clock.now += 59
    assert await fresh.refresh_if_stale() is False
    clock.now += 1
    assert await fresh.refresh_if_stale() is True
    assert source.calls == 2


async def test_nothing_ever_loaded_raises_and_backs_off() -> None:
    source, clock = Source(), FakeClock()
    source.failing = True
    fresh = schedule(source, clock)
    with pytest.raises(ProviderError, match="down"):
        await fresh.refresh_if_stale()
    with pytest.raises(ProviderError, match="doc unavailable"):
        await fresh.refresh_if_stale()  # within the back-off: no fetch
    assert source.calls == 1
    clock.now += 5
    with pytest.raises(ProviderError, match="down"):
        await fresh.refresh_if_stale()
    assert source.calls == 2


async def test_failed_refetch_keeps_the_cached_copy_and_backs_off() -> None:
    source, clock = Source(), FakeClock()
    fresh = schedule(source, clock)
    await fresh.refresh()
    source.failing = True
    clock.now += 60
    assert await fresh.refresh_if_stale() is True  # tried, failed, no exception
    assert fresh.loaded
    assert not fresh.fresh
    assert await fresh.refresh_if_stale() is False  # backing off
    assert source.calls == 2


async def test_concurrent_refreshes_share_one_fetch() -> None:
    source, clock = Source(), FakeClock()
    source.gate = asyncio.Event()
    fresh = schedule(source, clock)
    waiters = [asyncio.ensure_future(fresh.refresh()) for _ in range(20)]
    await asyncio.sleep(0)
    assert fresh.running
    source.gate.set()
    await asyncio.gather(*waiters)
    assert source.calls == 1
    assert fresh.fresh
    assert not fresh.running


@pytest.mark.parametrize(("ttl_s", "backoff_s"), [(0, 5), (60, -1)])
def test_bad_schedule_is_refused(ttl_s: float, backoff_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        Freshness(Source(), what="doc", ttl_s=ttl_s, error_backoff_s=backoff_s, clock=FakeClock())
