"""Session policy over any `SessionStore`: absolute and idle expiry, revocation, resealing.

Expiry is decided from the timestamps sealed inside the session, never from the cookie's
`Max-Age` (a client can keep a cookie as long as it likes). `seen_at` is rewritten at most
every `touch_interval_s`, so most requests need no new cookie.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bff.session.model import Session
from bff.session.revocation import RevocationList, keys_of, session_key
from bff.session.store import SessionStore

audit = logging.getLogger("bff.audit")


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
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.revocations = revocations
        self.max_age_s = max_age_s
        self.idle_s = idle_s
        self._clock = clock
        # rewrite seen_at at most once a minute (or a tenth of the idle time)
        self.touch_interval_s = max(1, min(60, idle_s // 10))

    async def load(self, cookies: Mapping[str, str]) -> Current | None:
        loaded = await self.store.load(cookies)
        if loaded is None:
            return None
        session, now = loaded.session, self._clock()
        if now >= session.expires_at(self.max_age_s, self.idle_s) or session.created_at > now + 60:
            audit.info("session_rejected reason=expired")
            return None
        revoked_at = await self.revocations.revoked_since(keys_of(session))
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
        remaining = int(session.created_at + self.max_age_s - self._clock())
        return await self.store.save(session, cookies, max(remaining, 0))

    async def clear(self, cookies: Mapping[str, str]) -> list[str]:
        return await self.store.clear(cookies)

    async def end(self, session: Session, cookies: Mapping[str, str]) -> list[str]:
        """Log out: a copied cookie must not outlive the logout either."""
        await self.revocations.revoke(session_key(session.id), self._clock(), self.max_age_s)
        return await self.store.clear(cookies)
