"""Access-token refresh: single-flight per session plus a short cache of results.

Refresh tokens may rotate, and a provider that detects reuse revokes the whole grant
(OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Concurrent requests that still carry the
old cookie must therefore never replay the old refresh token: within a process they join
the one in-flight refresh, and for `CACHE_TTL_S` afterwards they get its result from a
cache keyed by a hash of the old refresh token.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace

from bff.oidc import OAuthFailure, Provider, Tokens
from bff.session.model import Session
from shared import SharedError

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

CACHE_TTL_S = 30


class RefreshFailed(Exception):
    """The session cannot go on (`invalid_grant`, no refresh token, unusable answer)."""


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class Refresher:
    def __init__(self, provider: Provider, *, margin_s: int, clock: Callable[[], float]) -> None:
        self._provider = provider
        self._margin_s = margin_s
        self._clock = clock
        self._flights: dict[str, asyncio.Task[Tokens]] = {}
        self._results: dict[str, tuple[float, Tokens]] = {}
        #: how many token-endpoint calls this process made (tests, metrics)
        self.calls = 0

    def due(self, session: Session) -> bool:
        return session.access_expires_at - self._margin_s <= self._clock()

    async def refresh(self, session: Session) -> Session:
        """A session with fresh tokens. Raises `RefreshFailed` or `ProviderUnavailable`."""
        if not session.refresh_token:
            raise RefreshFailed("no refresh token")
        key = token_hash(session.refresh_token)
        tokens = self._cached(key)
        if tokens is None:
            flight = self._flights.get(key)
            if flight is None:
                flight = asyncio.ensure_future(self._call(key, session.refresh_token))
                self._flights[key] = flight
                flight.add_done_callback(lambda _t: self._flights.pop(key, None))
            # shield: a cancelled (disconnected) caller must not cancel the others' refresh
            tokens = await asyncio.shield(flight)
        return await self._apply(session, tokens)

    def _cached(self, key: str) -> Tokens | None:
        entry = self._results.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._results[key]
            return None
        return entry[1]

    async def _call(self, key: str, refresh_token: str) -> Tokens:
        self.calls += 1
        try:
            tokens = await self._provider.refresh(refresh_token)
        except OAuthFailure as exc:
            if exc.error == "temporarily_unavailable":
                raise
            audit.info("refresh_failed error=%s", exc.error)
            raise RefreshFailed(exc.error) from None
        now = self._clock()
        for stale in [k for k, (exp, _) in self._results.items() if exp <= now]:
            del self._results[stale]
        self._results[key] = (now + CACHE_TTL_S, tokens)
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
