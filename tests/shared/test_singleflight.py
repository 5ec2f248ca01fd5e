"""`shared.singleflight`: one call in flight, shared by every concurrent caller."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from shared.singleflight import KeyedSingleFlight, SingleFlight


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


async def test_keyed_callers_share_one_call_per_key_and_drop_it_when_done() -> None:
    flights: KeyedSingleFlight[str, str] = KeyedSingleFlight()
    release = asyncio.Event()
    calls: list[str] = []

    def work(key: str) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            calls.append(key)
            await release.wait()
            return f"{key}{len(calls)}"

        return call

    tasks = [asyncio.ensure_future(flights.run(k, work(k))) for k in ("a", "b", "a", "b", "a")]
    await asyncio.sleep(0)
    assert flights.running("a")
    assert flights.running("b")
    release.set()
    results = await asyncio.gather(*tasks)
    assert sorted(calls) == ["a", "b"]
    assert results[0::2] == [results[0]] * 3
    assert results[1::2] == [results[1]] * 2
    assert not flights.running("a")
    assert not flights.running("b")
    assert await flights.run("a", work("a")) == "a3"  # a later call is a new flight


async def test_keyed_failure_reaches_every_waiter_of_its_key_and_clears() -> None:
    flights: KeyedSingleFlight[int, int] = KeyedSingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0)
        raise LookupError("nope")

    async def succeed() -> int:
        await asyncio.sleep(0)
        return 7

    results = await asyncio.gather(
        flights.run(1, fail), flights.run(1, fail), flights.run(2, succeed), return_exceptions=True
    )
    assert isinstance(results[0], LookupError)
    assert isinstance(results[1], LookupError)
    assert results[2] == 7
    assert not flights.running(1)
    assert not flights.running(2)


async def test_keyed_cancelling_one_waiter_keeps_the_call_for_the_others() -> None:
    flights: KeyedSingleFlight[str, str] = KeyedSingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    first = asyncio.ensure_future(flights.run("k", work))
    second = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not flights.running("k")
