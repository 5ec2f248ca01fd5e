"""`shared.singleflight`: one call in flight, shared by every concurrent caller."""

import asyncio

import pytest

from shared.singleflight import SingleFlight


async def test_concurrent_callers_share_one_call_and_its_result() -> None:
    flight: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    tasks = [asyncio.ensure_future(flight.run(work)) for _ in range(10)]
    await asyncio.sleep(0)
    assert flight.running
    release.set()
    assert await asyncio.gather(*tasks) == [1] * 10
    assert not flight.running
    assert await flight.run(work) == 2  # a later call is a new flight


async def test_failure_reaches_every_waiter_and_clears() -> None:
    flight: SingleFlight[int] = SingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0)
        raise LookupError("nope")

    results = await asyncio.gather(flight.run(fail), flight.run(fail), return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert not flight.running


async def test_cancelling_one_waiter_keeps_the_call_for_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    first = asyncio.ensure_future(flight.run(work))
    second = asyncio.ensure_future(flight.run(work))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
