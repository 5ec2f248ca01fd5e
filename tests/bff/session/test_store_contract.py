"""One contract suite run against every store, revocation list and marker set (in memory or
cookies, and Redis); the `backend` fixture (tests/bff/conftest.py) runs each test on both."""

import asyncio
import random
from dataclasses import dataclass
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing, generate_key
from bff.session.cookie import CookieSessionStore
from bff.session.model import Session
from bff.session.redis import (
    RedisKeys,
    RedisOneTimeMarkers,
    RedisRevocationList,
    RedisSessionStore,
)
from bff.session.replay import MemoryOneTimeMarkers, OneTimeMarkers
from bff.session.revocation import MemoryRevocationList
from bff.settings import parse_session_keys
from tests.support.clock import FakeClock

KEY_OLD, KEY_NEW = generate_key("old"), generate_key("new")
POLICY = CookiePolicy(secure=True, samesite="strict")


@dataclass
class Stores:
    make: Any  # (keys) -> SessionStore


@pytest.fixture
def stores(backend: tuple[Redis, str] | None) -> Stores:
    if backend is None:
        return Stores(lambda keys: CookieSessionStore(KeyRing(parse_session_keys(keys)), POLICY))
    client, prefix = backend
    return Stores(
        lambda keys: RedisSessionStore(
            client, KeyRing(parse_session_keys(keys)), POLICY, RedisKeys(prefix)
        )
    )


def _session(**overrides: Any) -> Session:
    values: dict[str, Any] = {
        "sub": "user-1",
        "sid": "sid-1",
        "claims": {"sub": "user-1", "name": "Alice"},
        "access_token": "at",
        "access_expires_at": 1_800_000_300.0,
        "refresh_token": "rt",
        "id_token": "a.b.c",
        "created_at": 1_800_000_000.0,
        "seen_at": 1_800_000_000.0,
    }
    values.update(overrides)
    return Session.new(**values)


def _jar(lines: list[str]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for line in lines:
        name, _, rest = line.partition("=")
        value = rest.split(";", 1)[0]
        if "Max-Age=0" in line:
            jar.pop(name, None)
        else:
            jar[name] = value
    return jar


async def test_round_trip(stores: Stores) -> None:
    store = stores.make(KEY_NEW)
    session = _session()
    jar = _jar(await store.save(session, {}, 3600))
    loaded = await store.load(jar)
    assert loaded is not None
    assert loaded.session == session
    assert loaded.stale_key is False


async def test_cookie_flags(stores: Stores) -> None:
    lines = await stores.make(KEY_NEW).save(_session(), {}, 3600)
    first = lines[0]
    assert first.startswith("__Host-Http-bff-session=")
    for flag in ("Path=/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=3600"):
        assert flag in first


async def test_nothing_and_garbage_are_no_session(stores: Stores) -> None:
    store = stores.make(KEY_NEW)
    assert await store.load({}) is None
    assert await store.load({"__Host-Http-bff-session": "garbage"}) is None
    assert await store.load({"__Host-Http-bff-session": "1~a.b.c.d.e"}) is None


async def test_tampered_cookie_is_no_session(stores: Stores) -> None:
    store = stores.make(KEY_NEW)
    jar = _jar(await store.save(_session(), {}, 3600))
    value = jar["__Host-Http-bff-session"]
    jar["__Host-Http-bff-session"] = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    assert await store.load(jar) is None


async def test_rotation(stores: Stores) -> None:
    jar = _jar(await stores.make(KEY_OLD).save(_session(), {}, 3600))
    loaded = await stores.make(f"{KEY_NEW},{KEY_OLD}").load(jar)
    assert loaded is not None
    assert loaded.stale_key is True
    assert await stores.make(KEY_NEW).load(jar) is None


async def test_clear_removes_cookies(stores: Stores) -> None:
    store = stores.make(KEY_NEW)
    jar = _jar(await store.save(_session(), {}, 3600))
    lines = await store.clear(jar)
    assert all("Max-Age=0" in line for line in lines)
    assert not _jar(lines)
    assert {line.split("=", 1)[0] for line in lines} == set(jar)


async def test_overwrite_keeps_latest(stores: Stores) -> None:
    store = stores.make(KEY_NEW)
    session = _session()
    jar = _jar(await store.save(session, {}, 3600))
    newer = session.touched(1_800_000_100.0)
    jar.update(_jar(await store.save(newer, jar, 3600)))
    loaded = await store.load(jar)
    assert loaded is not None
    assert loaded.session.seen_at == 1_800_000_100.0


async def test_redis_clear_ends_a_copied_cookie(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    store = RedisSessionStore(
        client, KeyRing(parse_session_keys(KEY_NEW)), POLICY, RedisKeys(prefix)
    )
    jar = _jar(await store.save(_session(), {}, 3600))
    copy = dict(jar)
    await store.clear(jar)
    assert await store.load(copy) is None


async def test_redis_stores_no_token_in_clear(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    store = RedisSessionStore(
        client, KeyRing(parse_session_keys(KEY_NEW)), POLICY, RedisKeys(prefix)
    )
    await store.save(_session(access_token="secret-access-token"), {}, 3600)
    values = cast(
        list[bytes], [await client.get(k) async for k in client.scan_iter(match=prefix + "*")]
    )
    assert values
    assert all(b"secret-access-token" not in v for v in values)


# --- revocation lists ------------------------------------------------------------------


@pytest.fixture
def revocations(backend: tuple[Redis, str] | None) -> Any:
    if backend is None:
        return MemoryRevocationList(FakeClock())
    client, prefix = backend
    return RedisRevocationList(client, RedisKeys(prefix))


async def test_revocation_contract(revocations: Any) -> None:
    assert await revocations.revoked_since(["sid:a", "sub:b"]) is None
    await revocations.revoke("sid:a", 100.0, 3600)
    await revocations.revoke("sub:b", 200.0, 3600)
    assert await revocations.revoked_since(["sid:a"]) == 100.0
    assert await revocations.revoked_since(["sid:a", "sub:b", "bff:x"]) == 200.0
    await revocations.revoke("sid:a", 50.0, 3600)  # an older revocation never wins
    assert await revocations.revoked_since(["sid:a"]) == 100.0
    await revocations.ping()


async def test_an_earlier_revocation_never_lowers_a_later_one(revocations: Any) -> None:
    await revocations.revoke("sid:a", 300.0, 3600)
    await revocations.revoke("sid:a", 299.5, 3600)
    assert await revocations.revoked_since(["sid:a"]) == 300.0
    # concurrently, in any order (50 at once: the client's pool holds 100 connections)
    times = [100.0 + i * 0.25 for i in range(50)]
    random.Random(7).shuffle(times)
    await asyncio.gather(*(revocations.revoke("sub:b", t, 3600) for t in times))
    assert await revocations.revoked_since(["sub:b"]) == max(times)
    await asyncio.gather(*(revocations.revoke("sub:b", t - 100, 3600) for t in times))
    assert await revocations.revoked_since(["sub:b"]) == max(times)


# --- one-time markers ------------------------------------------------------------------


@pytest.fixture
def markers(backend: tuple[Redis, str] | None) -> OneTimeMarkers:
    if backend is None:
        return MemoryOneTimeMarkers(FakeClock())
    client, prefix = backend
    return RedisOneTimeMarkers(client, RedisKeys(prefix))


async def test_first_use_contract(markers: OneTimeMarkers) -> None:
    assert await markers.first_use("jti:1", 600) is True
    assert await markers.first_use("jti:1", 600) is False
    assert await markers.first_use("jti:2", 600) is True


async def test_a_burst_beyond_the_pool_waits_instead_of_failing() -> None:
    """More concurrent Redis calls than the pool has connections queue for one (redis-py's
    default pool raised MaxConnectionsError at 100: a refresh storm answered 503)."""
    from bff.session.redis import MAX_CONNECTIONS, connect
    from tests.bff.conftest import REDIS_URL, redis_namespace

    async with redis_namespace() as (_, prefix):
        client = connect(REDIS_URL)
        try:
            burst = [client.get(f"{prefix}burst:{i}") for i in range(MAX_CONNECTIONS * 4)]
            assert await asyncio.gather(*burst) == [None] * (MAX_CONNECTIONS * 4)
        finally:
            await client.aclose()
