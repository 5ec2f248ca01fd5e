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
    if settings.session_store == "redis":
        from bff.session import redis as redis_backend

        client = redis_backend.connect(settings.redis_url.get_secret_value())
        prefix = settings.redis_prefix
        return Backends(
            store=redis_backend.RedisSessionStore(client, ring, policy, prefix),
            revocations=redis_backend.RedisRevocationList(client, prefix),
            refresh_results=redis_backend.RedisRefreshResults(client, ring, prefix),
            aclose=client.aclose,
        )
    return Backends(
        store=CookieSessionStore(ring, policy),
        revocations=MemoryRevocationList(clock),
        refresh_results=MemoryRefreshResults(clock),
    )
