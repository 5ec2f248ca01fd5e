"""Redis-backed sessions, revocations and one-time markers, shared by BFF instances.

The browser's cookie holds only the session id, sealed like a cookie session (so a
forged or guessed id never reaches Redis). The session itself is stored sealed with the
same key ring: a copy of the Redis data alone reveals no token.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.session.model import Session
from bff.session.store import Loaded

REF_PURPOSE = "bff-session-ref"
DATA_PURPOSE = "bff-session-data"


@dataclass(frozen=True)
class RedisKeys:
    """Every Redis key name the BFF uses, each under one prefix (`BFF_REDIS_PREFIX`)."""

    prefix: str

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def revoked(self, key: str) -> str:
        return f"{self.prefix}revoked:{key}"

    def once(self, marker: str) -> str:
        return f"{self.prefix}once:{marker}"

    def refresh_result(self, token_hash: str) -> str:
        return f"{self.prefix}refresh:{token_hash}"

    def refresh_lock(self, token_hash: str) -> str:
        return f"{self.prefix}refresh-lock:{token_hash}"


def text_of(raw: bytes | str) -> str:
    """A stored value as text (the client returns bytes unless told to decode)."""
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisSessionStore:
    def __init__(self, redis: Redis, ring: KeyRing, policy: CookiePolicy, keys: RedisKeys) -> None:
        self._redis = redis
        self._ring = ring
        self._policy = policy
        self._keys = keys

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
        raw = await self._redis.get(self._keys.session(ref[0]))
        if raw is None:
            return None
        opened = self._ring.open(text_of(raw), DATA_PURPOSE)
        if opened is None:
            return None
        session = Session.from_payload(opened.payload)
        if session is None or session.id != ref[0]:
            return None
        return Loaded(session, ref[1] or opened.stale_key)

    async def save(self, session: Session, cookies: Mapping[str, str], max_age_s: int) -> list[str]:
        previous = self._session_id(cookies)
        if previous is not None and previous[0] != session.id:
            await self._redis.delete(self._keys.session(previous[0]))  # a new login replaces it
        sealed = self._ring.seal(session.to_payload(), DATA_PURPOSE)
        await self._redis.set(self._keys.session(session.id), sealed, ex=max(max_age_s, 1))
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
            await self._redis.delete(self._keys.session(ref[0]))
        return [self._policy.delete(n) for n in self._policy.session_cookies(cookies)]

    async def verify_connection(self) -> None:
        await self._redis.ping()


#: SET, keeping the later time: Redis has no `SET ... GT`, and a GET then SET from two
#: instances could let an earlier revocation overwrite a later one. A script runs alone.
#: KEYS[1] the revocation key; ARGV[1] the revocation time (Unix seconds), ARGV[2] the TTL (s)
_REVOKE_KEEPING_LATEST = """
local previous = redis.call('GET', KEYS[1])
if previous and tonumber(previous) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class RedisRevocationList:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._revoke = redis.register_script(_REVOKE_KEEPING_LATEST)

    async def revoke(self, key: str, at: float, ttl_s: int) -> None:
        # repr: the shortest text that reads back as the same float, in Lua and in Python
        await self._revoke(keys=[self._keys.revoked(key)], args=[repr(at), max(ttl_s, 1)])

    async def revoked_since(self, keys: Sequence[str]) -> float | None:
        values = await self._redis.mget([self._keys.revoked(k) for k in keys])
        times = [float(v) for v in values if v is not None]
        return max(times) if times else None

    async def ping(self) -> None:
        await self._redis.ping()


class RedisOneTimeMarkers:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def first_use(self, key: str, ttl_s: int) -> bool:
        # SET NX: of several instances seeing the same marker, exactly one wins
        return bool(await self._redis.set(self._keys.once(key), b"1", ex=max(ttl_s, 1), nx=True))


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
    "RedisKeys",
    "RedisOneTimeMarkers",
    "RedisRevocationList",
    "RedisSessionStore",
    "connect",
    "text_of",
]
