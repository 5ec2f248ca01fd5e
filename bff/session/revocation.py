"""Revocations: local logout ends one session, back-channel logout a `sid` or a `sub`.

`RevocationList` is the seam a Redis implementation fills for several BFF instances;
`MemoryRevocationList` serves one process. Entries expire on their own (`ttl_s`). The
key builders below are the only place revocation keys are spelled.
"""

import logging
from collections.abc import Sequence
from typing import Protocol

from bff.expiring import Expiring
from bff.session.model import Session
from shared.clock import Clock, system_clock

logger = logging.getLogger(__name__)

#: bound of the in-process revocation list; when full of live entries it fails closed
MAX_REVOKED = 100_000


def session_key(session_id: str) -> str:
    """Revokes one BFF session (local logout)."""
    return f"bff:{session_id}"


def sid_key(sid: str) -> str:
    """Revokes every session of one provider session (OIDC Back-Channel Logout 1.0 §2.7)."""
    return f"sid:{sid}"


def sub_key(sub: str | None) -> str:
    """Revokes every session of one subject (a logout token without `sid`)."""
    return f"sub:{sub}"


def keys_of(session: Session) -> list[str]:
    """Every key whose revocation ends `session`."""
    keys = [session_key(session.id), sub_key(session.sub)]
    if session.sid:
        keys.append(sid_key(session.sid))
    return keys


class RevocationList(Protocol):
    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        """Record that sessions matching `key` created at or before `at` are over."""

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        """The latest revocation time among `keys`, or None."""

    async def ping(self) -> None:
        """Raise when the list cannot be used."""


class MemoryRevocationList:
    def __init__(self, clock: Clock = system_clock, *, max_revoked: int = MAX_REVOKED) -> None:
        self._clock = clock
        self._revoked: Expiring[float] = Expiring()  # key -> (revoked at, expires)
        self._max_revoked = max_revoked
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

    async def ping(self) -> None:
        return None
