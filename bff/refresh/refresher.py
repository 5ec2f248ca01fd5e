"""`Refresher`: access-token refresh, single-flight per refresh token, rotation catch-up.

Refresh tokens may rotate, and a provider that detects reuse revokes the whole grant
(OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Concurrent requests that still carry the
old cookie must therefore never replay the old refresh token: within a process they join
the one in-flight refresh, and afterwards (longer than the upstream timeout, so longer
than any request that started before) they get its result from a cache keyed by a hash
of the old refresh token; a session is caught up with that cache before it is written
back. A refresh that ends the grant is published too, so other instances stop waiting.
`RefreshResults` carries that cache, and a lock, across BFF instances (Redis); the
in-process default needs no lock.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bff.errors import OAuthFailure, ProviderUnavailable, RefreshFailed
from bff.logs import log_code
from bff.oidc import Provider, Tokens
from bff.refresh.results import Failed, Outcome, RefreshResults, token_hash
from bff.session.model import Session
from shared import ProviderError, SharedError
from shared.clock import Clock
from shared.singleflight import KeyedSingleFlight

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

#: default life of a cached refresh result, in seconds; `cache_ttl()` sizes it from the
#: upstream timeout so a slow response's write-back still finds the newer tokens
CACHE_TTL_S = 60
#: upper bound of the refresh-result cache life (10 minutes)
MAX_CACHE_TTL_S = 600
#: how long one instance may hold the cross-instance refresh lock (a token call's timeout)
LOCK_TTL_S = 15
#: how often a waiting instance looks for the lock holder's result, in seconds
POLL_S = 0.05
#: rotations followed when catching a stale session up with cached results
MAX_CATCH_UP = 4


@dataclass(frozen=True)
class LockWait:
    """How a request waits while another instance holds the refresh lock: it looks for that
    instance's result every `poll_s` seconds for at most `wait_s` seconds (the lock's life),
    as `monotonic` tells. `sleep` and `monotonic` are seams, so tests wait without sleeping."""

    poll_s: float = POLL_S
    wait_s: float = LOCK_TTL_S
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic


def cache_ttl(upstream_timeout_s: float) -> int:
    """Refresh results outlive any request that started before them (upstream timeout +
    30 s, bounded): its write-back must not re-set a rotated refresh token (RFC 9700 §4.14.2)."""
    return int(min(max(upstream_timeout_s + 30, CACHE_TTL_S), MAX_CACHE_TTL_S))


class Refresher:
    def __init__(
        self,
        provider: Provider,
        results: RefreshResults,
        *,
        margin_s: int,
        clock: Clock,
        cache_ttl_s: int = CACHE_TTL_S,
        lock_wait: LockWait = LockWait(),
    ) -> None:
        self._provider = provider
        self._results = results
        self._margin_s = margin_s
        self._clock = clock
        self._lock_wait = lock_wait
        self._cache_ttl_s = cache_ttl_s
        self._flights: KeyedSingleFlight[str, Tokens] = KeyedSingleFlight()

    def due(self, session: Session) -> bool:
        return session.access_expires_at - self._margin_s <= self._clock()

    async def refresh(self, session: Session) -> Session:
        """A session with fresh tokens. Raises `RefreshFailed` or `ProviderUnavailable`."""
        if not session.refresh_token:
            raise RefreshFailed("no refresh token")
        key = token_hash(session.refresh_token)
        refresh_token = session.refresh_token
        # a cancelled (disconnected) caller does not cancel the others' refresh
        tokens = await self._flights.run(key, lambda: self._obtain(key, refresh_token))
        return await self._apply(session, tokens)

    async def newest(self, session: Session) -> Outcome | None:
        """What later refreshes of this session's refresh token came to, following
        rotations (another request refreshed while this one was in flight), or None."""
        latest: Outcome | None = None
        token = session.refresh_token
        for _ in range(MAX_CATCH_UP):
            if not token:
                break
            found = await self._results.get(token_hash(token))
            if found is None:
                break
            latest = found
            if isinstance(found, Failed) or found.refresh_token in (None, token):
                break
            token = found.refresh_token
        return latest

    async def catch_up(self, session: Session) -> Session | None:
        """`session` with the newest tokens a refresh elsewhere obtained for it, before it is
        written back, so a slow response never re-sets a rotated refresh token. None when a
        refresh found the grant gone."""
        outcome = await self.newest(session)
        if outcome is None:
            return session
        if isinstance(outcome, Failed):
            return None
        try:
            return await self._apply(session, outcome)
        except RefreshFailed:
            return None

    async def _obtain(self, key: str, refresh_token: str) -> Tokens:
        """The outcome for this refresh token: cached, obtained under the lock, or the lock
        holder's. A holder that fails without an outcome (provider unavailable) releases
        the lock, and a waiter then tries itself instead of polling to the end."""
        wait = self._lock_wait
        deadline = wait.monotonic() + wait.wait_s
        while True:
            outcome = await self._results.get(key)
            if outcome is not None:
                return self._tokens_of(outcome)
            if await self._results.acquire(key, LOCK_TTL_S):
                try:
                    outcome = await self._results.get(key)  # finished while we took the lock
                    if outcome is None:
                        outcome = await self._call(refresh_token)
                        await self._results.put(key, outcome, self._cache_ttl_s)
                finally:
                    await self._results.release(key)
                return self._tokens_of(outcome)
            if wait.monotonic() >= deadline:
                break
            await wait.sleep(wait.poll_s)  # another instance holds the lock
        raise ProviderUnavailable("another instance's refresh did not finish", timeout=True)

    @staticmethod
    def _tokens_of(outcome: Outcome) -> Tokens:
        if isinstance(outcome, Failed):
            raise RefreshFailed(outcome.error)
        return outcome

    async def _call(self, refresh_token: str) -> Outcome:
        """Tokens, or `Failed` when the grant is over. Raises `ProviderUnavailable`."""
        try:
            tokens = await self._provider.refresh(refresh_token)
        except OAuthFailure as exc:
            code = log_code(exc.error)
            audit.info("refresh_failed error=%s", code)
            # RFC 6749 §5.2: only invalid_grant says the refresh token (the grant) is gone.
            # invalid_client/unauthorized_client are our misconfiguration, anything else
            # (an HTML page, invalid_request) is the provider's trouble: not the user's.
            if exc.error == "invalid_grant":
                return Failed(exc.error)
            logger.error("token endpoint refused the refresh: %s", code)
            raise ProviderUnavailable(f"token endpoint refused the refresh ({code})") from None
        audit.info("refresh_succeeded")
        return tokens

    async def _apply(self, session: Session, tokens: Tokens) -> Session:
        id_token = session.id_token
        if tokens.id_token:
            # OIDC Core §12.2: a refreshed ID token must be for the same subject
            try:
                verified = await self._provider.verify_id_token(tokens.id_token)
            except ProviderError as exc:
                # JWKS unreachable says nothing against the token. The refresh token has
                # already rotated, so the new tokens must be kept (dropping them would
                # replay the old one later and lose the grant); only the unverified ID
                # token is not adopted (it serves as logout hint only).
                logger.warning("refreshed ID token not verified now: %s", exc.description)
                return self._with_tokens(session, tokens, session.id_token)
            except SharedError as exc:
                raise RefreshFailed(f"refreshed ID token refused: {exc.error}") from None
            if verified.claims.get("sub") != session.sub:
                raise RefreshFailed("refreshed ID token is for another subject")
            id_token = tokens.id_token
        return self._with_tokens(session, tokens, id_token)

    @staticmethod
    def _with_tokens(session: Session, tokens: Tokens, id_token: str | None) -> Session:
        return replace(
            session,
            access_token=tokens.access_token,
            access_expires_at=tokens.expires_at,
            # RFC 6749 §6: no new refresh token means the old one stays valid
            refresh_token=tokens.refresh_token or session.refresh_token,
            id_token=id_token,
        )
