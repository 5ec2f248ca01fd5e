"""A bounded map whose entries expire: the verified-token and introspection caches."""

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from shared.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringLRU(Generic[K, V]):
    """At most `max_entries` values, each served until its own `until` (Unix seconds,
    read on `clock`); when full, the least recently used entry goes first. An entry is
    dropped when it is found expired. `max_entries=0` stores nothing.

    The constructor raises `ValueError` for a negative `max_entries`.
    """

    def __init__(self, max_entries: int, clock: Clock) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value stored under `key` while it has not expired, else `None`."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, until: float) -> None:
        """Store `value` until `until`; one already expired is not stored at all."""
        if not self._max or until <= self._clock():
            return
        self._entries[key] = (value, until)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
