"""One-time markers: a login `state` or a logout token's `jti` is accepted once.

`OneTimeMarkers` is the seam a Redis implementation fills for several BFF instances;
`MemoryOneTimeMarkers` serves one process. Markers expire on their own (`ttl_s`).
"""

import hashlib
import logging
from typing import Protocol

from bff.expiring import Expiring
from shared.clock import Clock, system_clock

logger = logging.getLogger(__name__)

#: bound per kind of marker (`state:`, `jti:`), so a flood of one kind (an attacker can
#: mint `state` markers by logging in) never pushes out another
MAX_MARKERS = 100_000


def state_marker(state: str) -> str:
    """The marker of a login's `state` (hashed: the value itself is a credential)."""
    return "state:" + hashlib.sha256(state.encode()).hexdigest()


def jti_marker(issuer: str | None, jti: str) -> str:
    """The marker of a logout token (OIDC Back-Channel Logout 1.0 §2.6 (10))."""
    return f"jti:{issuer}:{jti}"


class OneTimeMarkers(Protocol):
    async def first_use(self, key: str, ttl_s: int) -> bool:
        """True the first time `key` is seen within `ttl_s` seconds, False on a replay."""


class MemoryOneTimeMarkers:
    def __init__(self, clock: Clock = system_clock, *, max_markers: int = MAX_MARKERS) -> None:
        self._clock = clock
        self._markers: dict[str, Expiring[float]] = {}  # kind -> key -> (0, expires)
        self._max_markers = max_markers
        self._warned: set[str] = set()

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
