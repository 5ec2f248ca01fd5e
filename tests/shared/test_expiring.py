"""`shared.expiring`: a bounded map whose entries expire, least recently used first out."""

import math

import pytest

from shared.expiring import ExpiringLRU
from tests.support.clock import NOW, FakeClock


def test_an_entry_is_served_until_its_own_expiry(clock: FakeClock) -> None:
    cache: ExpiringLRU[str, int] = ExpiringLRU(10, clock)
    cache.put("a", 1, until=NOW + 10)
    cache.put("b", 2, until=NOW + 20)
    clock.advance(9.9)
    assert (cache.get("a"), cache.get("b")) == (1, 2)
    clock.advance(0.1)
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    assert len(cache) == 1  # found expired, dropped


def test_already_expired_values_are_not_stored(clock: FakeClock) -> None:
    cache: ExpiringLRU[str, int] = ExpiringLRU(10, clock)
    cache.put("past", 1, until=NOW - 1)
    cache.put("now", 2, until=NOW)
    cache.put("forever", 3, until=math.inf)
    assert len(cache) == 1
    assert cache.get("forever") == 3


def test_the_least_recently_used_entry_goes_first(clock: FakeClock) -> None:
    cache: ExpiringLRU[str, int] = ExpiringLRU(2, clock)
    cache.put("a", 1, until=NOW + 60)
    cache.put("b", 2, until=NOW + 60)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3, until=NOW + 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.put("a", 4, until=NOW + 60)  # replacing refreshes too
    cache.put("d", 5, until=NOW + 60)
    assert (cache.get("a"), cache.get("c"), cache.get("d")) == (4, None, 5)


def test_zero_entries_stores_nothing_and_clear_forgets(clock: FakeClock) -> None:
    none: ExpiringLRU[str, int] = ExpiringLRU(0, clock)
    none.put("a", 1, until=NOW + 60)
    assert (len(none), none.get("a")) == (0, None)
    some: ExpiringLRU[str, int] = ExpiringLRU(5, clock)
    some.put("a", 1, until=NOW + 60)
    some.clear()
    assert some.get("a") is None


def test_negative_bound_fails_fast(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        ExpiringLRU(-1, clock)
