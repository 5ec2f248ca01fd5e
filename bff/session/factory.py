"""Chooses the session store and revocation list from `BFF_SESSION_STORE`."""

from collections.abc import Callable

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.session.cookie import CookieSessionStore
from bff.session.revocation import MemoryRevocationList, RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings


def build_store(
    settings: Settings, ring: KeyRing, policy: CookiePolicy, clock: Callable[[], float]
) -> tuple[SessionStore, RevocationList]:
    if settings.session_store == "redis":
        from bff.session.redis import build_redis_store

        return build_redis_store(settings, ring, policy, clock)
    return CookieSessionStore(ring, policy), MemoryRevocationList(clock)
