"""`Expiring`: an in-process `key -> (value, expires)` map pruned in expiry order."""

import heapq
from typing import Generic, TypeVar

V = TypeVar("V")


class Expiring(Generic[V]):
    """`key -> (value, expires)` pruned in expiry order from a heap: O(log n) amortised
    per insert, however many entries are live (and whatever their TTLs)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[V, float]] = {}
        self._heap: list[tuple[float, str]] = []

    def prune(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = self.entries.get(key)
            if entry is not None and entry[1] == expires:  # not renewed since
                del self.entries[key]

    def live(self, key: str, now: float) -> tuple[V, float] | None:
        entry = self.entries.get(key)
        return entry if entry is not None and entry[1] > now else None

    def put(self, key: str, value: V, expires: float) -> None:
        self.entries[key] = (value, expires)
        heapq.heappush(self._heap, (expires, key))
        if len(self._heap) > 2 * len(self.entries) + 1024:  # renewals left stale heap rows
            self._heap = [(e, k) for k, (_, e) in self.entries.items()]
            heapq.heapify(self._heap)

    def pop_soonest(self) -> tuple[str, V] | None:
        """Remove the live entry closest to expiry: (key, value)."""
        while self._heap:
            expires, key = heapq.heappop(self._heap)
            entry = self.entries.get(key)
            if entry is not None and entry[1] == expires:
                del self.entries[key]
                return key, entry[0]
        return None


__all__ = ["Expiring"]
