"""Access-token refresh: single-flight per session plus a short cache of results.

Refresh tokens may rotate, and a provider that detects reuse revokes the whole grant
(OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Concurrent requests that still carry the
old cookie must therefore never replay the old refresh token: within a process they join
the one in-flight refresh, and for `CACHE_TTL_S` afterwards they get its result from a
cache keyed by a hash of the old refresh token. `RefreshResults` carries that cache, and
a lock, across BFF instances (Redis); the in-process default needs no lock.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from bff.oidc import OAuthFailure, Provider, ProviderUnavailable, Tokens
from bff.session.model import Session
from shared import SharedError

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

CACHE_TTL_S = 30
#: how long one instance may hold the cross-instance refresh lock (a token call's timeout)
LOCK_TTL_S = 15
#: how often a waiting instance looks for the lock holder's result, in seconds
POLL_S = 0.05


class RefreshFailed(Exception):
    """The session cannot go on (`invalid_grant`, no refresh token, unusable answer)."""


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class RefreshResults(Protocol):
    """Where refresh results (and, across instances, the refresh lock) live."""

    async def get(self, key: str) -> Tokens | None: ...

    async def put(self, key: str, tokens: Tokens, ttl_s: int) -> None: ...

    async def acquire(self, key: str, ttl_s: int) -> bool:
        """True when this caller may refresh; False while another instance does."""

    async def release(self, key: str) -> None: ...


class MemoryRefreshResults:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._results: dict[str, tuple[float, Tokens]] = {}

    async def get(self, key: str) -> Tokens | None:
        entry = self._results.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._results[key]
            return None
        return entry[1]

    async def put(self, key: str, tokens: Tokens, ttl_s: int) -> None:
        now = self._clock()
        for stale in [k for k, (exp, _) in self._results.items() if exp <= now]:
            del self._results[stale]
        self._results[key] = (now + ttl_s, tokens)

    async def acquire(self, key: str, ttl_s: int) -> bool:
        return True  # one process: the single-flight below is the lock

    async def release(self, key: str) -> None:
        return None


class Refresher:
    def __init__(
        self,
        provider: Provider,
        *,
        margin_s: int,
        clock: Callable[[], float],
        results: RefreshResults | None = None,
        wait_s: float = LOCK_TTL_S,
    ) -> None:
        self._provider = provider
        self._margin_s = margin_s
        self._clock = clock
        self._results = results or MemoryRefreshResults(clock)
        self._wait_s = wait_s
        self._flights: dict[str, asyncio.Task[Tokens]] = {}
        #: how many token-endpoint calls this process made (tests, metrics)
        self.calls = 0

    def due(self, session: Session) -> bool:
        return session.access_expires_at - self._margin_s <= self._clock()

    async def refresh(self, session: Session) -> Session:
        """A session with fresh tokens. Raises `RefreshFailed` or `ProviderUnavailable`."""
        if not session.refresh_token:
            raise RefreshFailed("no refresh token")
        key = token_hash(session.refresh_token)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._obtain(key, session.refresh_token))
            self._flights[key] = flight
            flight.add_done_callback(lambda _t: self._flights.pop(key, None))
        # shield: a cancelled (disconnected) caller must not cancel the others' refresh
        tokens = await asyncio.shield(flight)
        return await self._apply(session, tokens)

    async def _obtain(self, key: str, refresh_token: str) -> Tokens:
        tokens = await self._results.get(key)
        if tokens is not None:
            return tokens
        if not await self._results.acquire(key, LOCK_TTL_S):
            return await self._wait_for(key)
        try:
            tokens = await self._results.get(key)  # finished while we took the lock
            if tokens is None:
                tokens = await self._call(refresh_token)
                await self._results.put(key, tokens, CACHE_TTL_S)
            return tokens
        finally:
            await self._results.release(key)

    async def _wait_for(self, key: str) -> Tokens:
        """Another instance holds the lock: use its result when it appears."""
        for _ in range(int(self._wait_s / POLL_S)):
            await asyncio.sleep(POLL_S)
            tokens = await self._results.get(key)
            if tokens is not None:
                return tokens
        raise ProviderUnavailable("another instance's refresh did not finish", timeout=True)

    async def _call(self, refresh_token: str) -> Tokens:
        self.calls += 1
        try:
            tokens = await self._provider.refresh(refresh_token)
        except ProviderUnavailable:
            raise
        except OAuthFailure as exc:
            audit.info("refresh_failed error=%s", exc.error)
            raise RefreshFailed(exc.error) from None
        audit.info("refresh_succeeded")
        return tokens

    async def _apply(self, session: Session, tokens: Tokens) -> Session:
        id_token = session.id_token
        if tokens.id_token:
            # OIDC Core §12.2: a refreshed ID token must be for the same subject
            try:
                verified = await self._provider.verify_id_token(tokens.id_token)
            except SharedError as exc:
                raise RefreshFailed(f"refreshed ID token refused: {exc.error}") from None
            if verified.claims.get("sub") != session.sub:
                raise RefreshFailed("refreshed ID token is for another subject")
            id_token = tokens.id_token
        return replace(
            session,
            access_token=tokens.access_token,
            access_expires_at=tokens.expires_at,
            # RFC 6749 §6: no new refresh token means the old one stays valid
            refresh_token=tokens.refresh_token or session.refresh_token,
            id_token=id_token,
        )
