"""The refresh-result cache and lock contract, in memory and in Redis (`backend` runs each
test on both)."""

from typing import Any

import pytest
from redis.asyncio import Redis

from bff.keyring import KeyRing, generate_key
from bff.oidc import Tokens
from bff.refresh.redis import RedisRefreshResults
from bff.refresh.results import MemoryRefreshResults
from bff.session.redis import RedisKeys
from bff.settings import parse_session_keys
from tests.support.clock import FakeClock

KEY_NEW = generate_key("new")


@pytest.fixture
def results(backend: tuple[Redis, str] | None) -> Any:
    if backend is None:
        return MemoryRefreshResults(FakeClock())
    client, prefix = backend
    return RedisRefreshResults(client, KeyRing(parse_session_keys(KEY_NEW)), RedisKeys(prefix))


async def test_refresh_results_contract(results: Any) -> None:
    tokens = Tokens("at", 1_800_000_300.0, "rt2", None)
    assert await results.get("k") is None
    assert await results.acquire("k", 15) is True
    await results.put("k", tokens, 30)
    await results.release("k")
    assert await results.get("k") == tokens


async def test_redis_refresh_lock_is_exclusive(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    results = RedisRefreshResults(client, KeyRing(parse_session_keys(KEY_NEW)), RedisKeys(prefix))
    assert await results.acquire("k", 15) is True
    assert await results.acquire("k", 15) is False
    await results.release("k")
    assert await results.acquire("k", 15) is True
