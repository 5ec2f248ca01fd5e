"""Revocations (back-channel and local logout) and one-time markers (`jti`, `state`).

`RevocationList` is the seam a Redis implementation fills for several BFF instances;
`MemoryRevocationList` serves one process. Entries expire on their own (`ttl_s`).
"""

import logging
from collections.abc import Sequence
from typing import Protocol

from bff.expiring import Expiring
from shared.clock import Clock, system_clock

logger = logging.getLogger(__name__)

#: bound of the in-process revocation list; when full of live entries it fails closed
MAX_REVOKED = 100_000
#: bound per kind of one-time marker (`state:`, `jti:`, ...), so a flood of one kind (an
#: attacker can mint `state` markers by logging in) never pushes out another
MAX_MARKERS = 100_000


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
    def __init__(
        self,
        clock: Clock = system_clock,
        *,
        max_revoked: int = MAX_REVOKED,
        max_markers: int = MAX_MARKERS,
    ) -> None:
        self._clock = clock
        self._revoked: Expiring[float] = Expiring()  # key -> (revoked at, expires)
        self._max_revoked = max_revoked
        self._markers: dict[str, Expiring[float]] = {}  # kind -> key -> (0, expires)
        self._max_markers = max_markers
        self._warned: set[str] = set()
        # Fail closed: when a live revocation must make room, every session created at or
        # before it is treated as revoked (a few users sign in again; none is un-revoked).
        self._watermark: float | None = None

    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        now = self._clock()
        revoked = self._revoked
        revoked.prune(now)
        previous = revoked.live(key, now)
        if previous is None and len(revoked.entries) >= self._max_revoked:
            evicted = revoked.pop_soonest()
            if evicted is not None:
                self._watermark = max(self._watermark or evicted[1], evicted[1])
                logger.warning("revocation list full: sessions created before %s end", evicted[1])
        revoked.put(key, max(at, previous[0] if previous else at), now + ttl_s)

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        times = [] if self._watermark is None else [self._watermark]
        if self._revoked.entries:
            now = self._clock()
            times += [e[0] for k in keys if (e := self._revoked.live(k, now)) is not None]
        return max(times) if times else None

    async def first_use(self, key: str, ttl_s: int) -> bool:
        now = self._clock()
        kind = key.split(":", 1)[0]
        markers = self._markers.get(kind)
        if markers is None:
            markers = self._markers[kind] = Expiring()
        if markers.live(key, now) is not None:
            return False
        markers.prune(now)
        if len(markers.entries) >= self._max_markers:
            # this kind only: the marker closest to expiry goes (a `state` replay still
            # needs its deleted login cookie, and the code is single-use at the provider)
            markers.pop_soonest()
            if kind not in self._warned:  # once: a flood must not flood the log too
                self._warned.add(kind)
                logger.warning("one-time %s markers full: the oldest go", kind[:16])
        markers.put(key, 0.0, now + ttl_s)
        return True

    async def ping(self) -> None:
        return None
