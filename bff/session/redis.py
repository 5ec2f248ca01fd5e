"""Redis-backed sessions, revocations and refresh coordination, shared by BFF instances.

The browser's cookie holds only the session id, sealed like a cookie session (so a
forged or guessed id never reaches Redis). The session itself is stored sealed with the
same key ring: a copy of the Redis data alone reveals no token.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict

from redis.asyncio import BlockingConnectionPool, Redis

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.oidc import Tokens
from bff.refresh import Failed, Outcome
from bff.session.model import Session
from bff.session.store import Loaded

REF_PURPOSE = "bff-session-ref"
DATA_PURPOSE = "bff-session-data"
TOKENS_PURPOSE = "bff-refresh-result"


class RedisSessionStore:
    def __init__(self, redis: Redis, ring: KeyRing, policy: CookiePolicy, prefix: str) -> None:
        self._redis = redis
        self._ring = ring
        self._policy = policy
        self._prefix = prefix

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _session_id(self, cookies: Mapping[str, str]) -> tuple[str, bool] | None:
        value = cookies.get(self._policy.session_name)
        if not value:
            return None
        opened = self._ring.open(value, REF_PURPOSE)
        session_id = opened.payload.get("id") if opened else None
        if opened is None or not isinstance(session_id, str):
            return None
        return session_id, opened.stale_key

    async def load(self, cookies: Mapping[str, str]) -> Loaded | None:
        ref = self._session_id(cookies)
        if ref is None:
            return None
        raw = await self._redis.get(self._key(ref[0]))
        if raw is None:
            return None
        opened = self._ring.open(raw.decode() if isinstance(raw, bytes) else raw, DATA_PURPOSE)
        if opened is None:
            return None
        session = Session.from_payload(opened.payload)
        if session is None or session.id != ref[0]:
            return None
        return Loaded(session, ref[1] or opened.stale_key)

    async def save(self, session: Session, cookies: Mapping[str, str], max_age_s: int) -> list[str]:
        previous = self._session_id(cookies)
        if previous is not None and previous[0] != session.id:
            await self._redis.delete(self._key(previous[0]))  # a new login replaces it
        sealed = self._ring.seal(session.to_payload(), DATA_PURPOSE)
        await self._redis.set(self._key(session.id), sealed, ex=max(max_age_s, 1))
        ref = self._ring.seal({"id": session.id}, REF_PURPOSE)
        lines = [self._policy.set(self._policy.session_name, ref, max_age=max_age_s)]
        # chunks left by a cookie-store session on the same browser
        base = self._policy.session_name
        lines += [
            self._policy.delete(n) for n in self._policy.session_cookies(cookies) if n != base
        ]
        return lines

    async def clear(self, cookies: Mapping[str, str]) -> list[str]:
        ref = self._session_id(cookies)
        if ref is not None:
            await self._redis.delete(self._key(ref[0]))
        return [self._policy.delete(n) for n in self._policy.session_cookies(cookies)]

    async def verify_connection(self) -> None:
        await self._redis.ping()


class RedisRevocationList:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        name = f"{self._prefix}revoked:{key}"
        # keep the latest time when two instances revoke the same key
        previous = await self._redis.get(name)
        if previous is not None and float(previous) >= at:
            return
        await self._redis.set(name, repr(at), ex=max(ttl_s, 1))

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        values = await self._redis.mget([f"{self._prefix}revoked:{k}" for k in keys])
        times = [float(v) for v in values if v is not None]
        return max(times) if times else None

    async def first_use(self, key: str, ttl_s: int) -> bool:
        return bool(
            await self._redis.set(f"{self._prefix}once:{key}", b"1", ex=max(ttl_s, 1), nx=True)
        )

    async def ping(self) -> None:
        await self._redis.ping()


class RedisRefreshResults:
    """The refresh lock and result cache across instances; results are sealed (tokens)."""

    def __init__(self, redis: Redis, ring: KeyRing, prefix: str) -> None:
        self._redis = redis
        self._ring = ring
        self._prefix = prefix

    async def get(self, key: str) -> Outcome | None:
        raw = await self._redis.get(f"{self._prefix}refresh:{key}")
        if raw is None:
            return None
        opened = self._ring.open(raw.decode() if isinstance(raw, bytes) else raw, TOKENS_PURPOSE)
        if opened is None:
            return None
        failed = opened.payload.get("failed")
        if isinstance(failed, str):
            return Failed(failed)
        try:
            return Tokens(**opened.payload)
        except TypeError:
            return None

    async def put(self, key: str, outcome: Outcome, ttl_s: int) -> None:
        payload = {"failed": outcome.error} if isinstance(outcome, Failed) else asdict(outcome)
        sealed = self._ring.seal(payload, TOKENS_PURPOSE)
        await self._redis.set(f"{self._prefix}refresh:{key}", sealed, ex=ttl_s)

    async def acquire(self, key: str, ttl_s: int) -> bool:
        return bool(
            await self._redis.set(f"{self._prefix}refresh-lock:{key}", b"1", ex=ttl_s, nx=True)
        )

    async def release(self, key: str) -> None:
        await self._redis.delete(f"{self._prefix}refresh-lock:{key}")


#: Redis connections one BFF process may open; requests beyond wait for a free one
MAX_CONNECTIONS = 64
#: how long a request waits for a free connection before it is a 503, in seconds
POOL_TIMEOUT_S = 5


def connect(url: str) -> Redis:
    # A blocking pool: a burst of requests queues for a connection instead of failing at
    # the pool's limit (redis-py's default pool raises MaxConnectionsError at 100).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_TIMEOUT_S,
        socket_timeout=5,
        socket_connect_timeout=3,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too


__all__ = [
    "RedisRefreshResults",
    "RedisRevocationList",
    "RedisSessionStore",
    "connect",
]
