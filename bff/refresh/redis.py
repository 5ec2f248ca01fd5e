"""`RedisRefreshResults`: the refresh lock and result cache shared by BFF instances.

Results hold tokens, so they are stored sealed with the session key ring.
"""

from dataclasses import asdict

from redis.asyncio import Redis

from bff.keyring import KeyRing
from bff.oidc import Tokens
from bff.refresh.results import Failed, Outcome
from bff.session.redis import RedisKeys, text_of

PURPOSE = "bff-refresh-result"


class RedisRefreshResults:
    def __init__(self, redis: Redis, ring: KeyRing, keys: RedisKeys) -> None:
        self._redis = redis
        self._ring = ring
        self._keys = keys

    async def get(self, key: str) -> Outcome | None:
        raw = await self._redis.get(self._keys.refresh_result(key))
        if raw is None:
            return None
        opened = self._ring.open(text_of(raw), PURPOSE)
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
        sealed = self._ring.seal(payload, PURPOSE)
        await self._redis.set(self._keys.refresh_result(key), sealed, ex=ttl_s)

    async def acquire(self, key: str, ttl_s: int) -> bool:
        return bool(await self._redis.set(self._keys.refresh_lock(key), b"1", ex=ttl_s, nx=True))

    async def release(self, key: str) -> None:
        await self._redis.delete(self._keys.refresh_lock(key))
