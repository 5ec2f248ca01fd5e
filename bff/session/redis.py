"""Redis session store: placeholder until the stretch goal lands."""

from collections.abc import Callable

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.session.revocation import RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings


def build_redis_store(
    settings: Settings, ring: KeyRing, policy: CookiePolicy, clock: Callable[[], float]
) -> tuple[SessionStore, RevocationList]:
    raise NotImplementedError("BFF_SESSION_STORE=redis is not implemented yet")
