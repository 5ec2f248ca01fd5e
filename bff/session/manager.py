"""Session policy over any `SessionStore`: absolute and idle expiry, revocation, resealing,
write-back.

Expiry is decided from the timestamps sealed inside the session, never from the cookie's
`Max-Age` (a client can keep a cookie as long as it likes). `seen_at` is rewritten at most
every `touch_interval_s`, so most requests need no new cookie.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bff.errors import SessionTooLarge
from bff.session.model import Session
from bff.session.revocation import RevocationList, keys_of, session_key
from bff.session.store import SessionStore
from shared.clock import Clock

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

#: `session` with the newest tokens a refresh elsewhere obtained for it, or None when a
#: refresh found the grant gone (filled by the refresher: storage knows nothing of it)
CatchUp = Callable[[Session], Awaitable[Session | None]]


@dataclass
class Current:
    session: Session
    #: the session changed (new tokens, touched, older key): write it back on this response
    dirty: bool
    #: opened with an older key: written back even when nothing else changed
    stale_key: bool = False


class SessionManager:
    def __init__(
        self,
        store: SessionStore,
        revocations: RevocationList,
        *,
        max_age_s: int,
        idle_s: int,
        clock: Clock,
        catch_up: CatchUp,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._max_age_s = max_age_s
        self._idle_s = idle_s
        self._clock = clock
        self._catch_up = catch_up
        # rewrite seen_at at most once a minute (or a tenth of the idle time)
        self.touch_interval_s = max(1, min(60, idle_s // 10))

    def expires_at(self, session: Session) -> float:
        return session.expires_at(self._max_age_s, self._idle_s)

    async def load(self, cookies: Mapping[str, str]) -> Current | None:
        loaded = await self._store.load(cookies)
        if loaded is None:
            return None
        session, now = loaded.session, self._clock()
        if now >= self.expires_at(session) or session.created_at > now + 60:
            audit.info("session_rejected reason=expired")
            return None
        revoked_at = await self._revocations.revoked_since(keys_of(session))
        # OIDC Back-Channel Logout 1.0 §2.7: every session of that sid/sub is over; a
        # session created after the logout is a new login and stays valid.
        if revoked_at is not None and revoked_at >= session.created_at:
            audit.info("session_rejected reason=revoked")
            return None
        dirty = loaded.stale_key
        if now - session.seen_at >= self.touch_interval_s:
            session, dirty = session.touched(now), True
        return Current(session, dirty, loaded.stale_key)

    async def save(self, session: Session, cookies: Mapping[str, str]) -> list[str]:
        """Raises `SessionTooLarge`."""
        remaining = int(session.created_at + self._max_age_s - self._clock())
        return await self._store.save(session, cookies, max(remaining, 0))

    async def write_back(self, session: Session, cookies: Mapping[str, str]) -> list[str]:
        """Write a session back; one that no longer fits ends (never a half-written session).

        A request that loaded the session before another one refreshed it would re-set the
        rotated refresh token (and the next refresh would replay it: RFC 9700 §4.14.2), so
        the session first takes the newest tokens the refresh-result cache holds for it.
        """
        newest = await self._catch_up(session)
        if newest is None:
            return []  # a refresh found the grant gone; that response ended the session
        try:
            return await self.save(newest, cookies)
        except SessionTooLarge as exc:
            logger.error("session no longer fits its cookies, ending it: %s", exc)
            return await self.end(newest, cookies)

    async def clear(self, cookies: Mapping[str, str]) -> list[str]:
        return await self._store.clear(cookies)

    async def end(self, session: Session, cookies: Mapping[str, str]) -> list[str]:
        """Log out: a copied cookie must not outlive the logout either."""
        await self._revocations.revoke(session_key(session.id), self._clock(), self._max_age_s)
        return await self._store.clear(cookies)
