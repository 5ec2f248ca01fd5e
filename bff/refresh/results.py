"""Where refresh outcomes are kept: the `RefreshResults` seam and its in-process default.

A result is keyed by a hash of the refresh token it was obtained with, so a request that
still carries that token finds the newer tokens instead of replaying it (RFC 9700
§4.14.2). Across BFF instances the Redis implementation (`bff.refresh.redis`) also holds
the refresh lock; one process needs none (its single-flight is the lock).
"""

import hashlib
from dataclasses import dataclass
from typing import Protocol

from bff.expiring import Expiring
from bff.oidc import Tokens
from shared.clock import Clock


@dataclass(frozen=True)
class Failed:
    """A published refresh outcome that ended the grant (so waiters need not time out)."""

    error: str


#: what a refresh with one refresh token came to: new tokens, or the grant's end
Outcome = Tokens | Failed


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class RefreshResults(Protocol):
    async def get(self, key: str) -> Outcome | None: ...

    async def put(self, key: str, outcome: Outcome, ttl_s: int) -> None: ...

    async def acquire(self, key: str, ttl_s: int) -> bool:
        """True when this caller may refresh; False while another instance does."""

    async def release(self, key: str) -> None: ...


class MemoryRefreshResults:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._results: Expiring[Outcome] = Expiring()

    async def get(self, key: str) -> Outcome | None:
        entry = self._results.live(key, self._clock())
        return None if entry is None else entry[0]

    async def put(self, key: str, outcome: Outcome, ttl_s: int) -> None:
        now = self._clock()
        self._results.prune(now)
        self._results.put(key, outcome, now + ttl_s)

    async def acquire(self, key: str, ttl_s: int) -> bool:
        return True  # one process: the refresher's single-flight is the lock

    async def release(self, key: str) -> None:
        return None
