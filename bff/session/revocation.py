"""Revocations (back-channel and local logout) and one-time markers (`jti`, `state`).

`RevocationList` is the seam a Redis implementation fills for several BFF instances;
`MemoryRevocationList` serves one process. Entries expire on their own (`ttl_s`).
"""

import time
from collections.abc import Callable, Sequence
from typing import Protocol

Clock = Callable[[], float]
#: bound for the in-process maps; oldest entries go first when it is reached
MAX_ENTRIES = 100_000


class RevocationList(Protocol):
    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        """Record that sessions matching `key` created at or before `at` are over."""

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        """The latest revocation time among `keys`, or None."""

    async def first_use(self, key: str, ttl_s: int) -> bool:
        """True the first time `key` is seen within `ttl_s` seconds, False on a replay."""

    async def ping(self) -> None:
        """Raise when the list cannot be used."""


class MemoryRevocationList:
    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._revoked: dict[str, tuple[float, float]] = {}  # key -> (at, expires)
        self._seen: dict[str, float] = {}  # key -> expires

    def _prune_revoked(self) -> None:
        now = self._clock()
        for key in [k for k, (_, expires) in self._revoked.items() if expires <= now]:
            del self._revoked[key]
        while len(self._revoked) >= MAX_ENTRIES:
            del self._revoked[next(iter(self._revoked))]

    def _prune_seen(self) -> None:
        now = self._clock()
        for key in [k for k, expires in self._seen.items() if expires <= now]:
            del self._seen[key]
        while len(self._seen) >= MAX_ENTRIES:
            del self._seen[next(iter(self._seen))]

    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        self._prune_revoked()
        previous = self._revoked.get(key, (0.0, 0.0))
        self._revoked[key] = (max(at, previous[0]), self._clock() + ttl_s)

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        if not self._revoked:
            return None
        now = self._clock()
        times = [e[0] for k in keys if (e := self._revoked.get(k)) is not None and e[1] > now]
        return max(times) if times else None

    async def first_use(self, key: str, ttl_s: int) -> bool:
        now = self._clock()
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._prune_seen()
        self._seen[key] = now + ttl_s
        return True

    async def ping(self) -> None:
        return None
