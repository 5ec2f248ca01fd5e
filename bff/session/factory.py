"""Chooses the session store, revocation list and refresh coordination (`BFF_SESSION_STORE`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.refresh import MemoryRefreshResults, RefreshResults
from bff.session.cookie import CookieSessionStore
from bff.session.revocation import MemoryRevocationList, RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings


async def _nothing() -> None:
    return None


@dataclass
class Backends:
    store: SessionStore
    revocations: RevocationList
    refresh_results: RefreshResults
    aclose: Callable[[], Awaitable[None]] = _nothing


def build_backends(
    settings: Settings, ring: KeyRing, policy: CookiePolicy, clock: Callable[[], float]
) -> Backends:
    """With `BFF_REDIS_URL` set, revocations, one-time markers and refresh coordination live
    in Redis whatever the session store (SPEC: "also used for shared refresh locks and
    logout revocations"), so a logout or a refresh on one instance holds on every other
    one and across restarts. Without it they are per process."""
    url = settings.redis_url.get_secret_value()
    if not url:
        return Backends(
            store=CookieSessionStore(ring, policy),
            revocations=MemoryRevocationList(clock),
            refresh_results=MemoryRefreshResults(clock),
        )
    from bff.session import redis as redis_backend

    client = redis_backend.connect(url)
    prefix = settings.redis_prefix
    store: SessionStore = (
        redis_backend.RedisSessionStore(client, ring, policy, prefix)
        if settings.session_store == "redis"
        else CookieSessionStore(ring, policy)
    )
    return Backends(
        store=store,
        revocations=redis_backend.RedisRevocationList(client, prefix),
        refresh_results=redis_backend.RedisRefreshResults(client, ring, prefix),
        aclose=client.aclose,
    )
