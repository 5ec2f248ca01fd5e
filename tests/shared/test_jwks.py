"""`shared.jwks`: rotation, single-flight, cooldown, stale-if-error, key filtering."""

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import OctKey, RSAKey

from shared import InvalidToken, JWKSCache, ProviderError, TokenProfile
from shared.fetch import RetryPolicy
from tests.shared.conftest import JWKS_URL, make_verifier
from tests.support.clock import NOW, FakeClock
from tests.support.tokens import AUDIENCE, TokenFactory, generate_key

ACCESS = TokenProfile.access_token((AUDIENCE,), ("at+jwt",))
ONE_TRY = RetryPolicy(attempts=1)


def jwks_of(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def ok(document: Any) -> httpx.Response:
    return httpx.Response(200, json=document)


class Gate:
    """An async respx side effect that holds every response until `open()`."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.arrived = 0
        self._event = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived += 1
        await self._event.wait()
        return ok(self.document)

    def open(self) -> None:
        self._event.set()


async def settle() -> None:
    """Let every runnable task reach its next real suspension point (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return generate_key("RS256", "rsa-1")


def cache(client: httpx.AsyncClient, clock: FakeClock, **kwargs: Any) -> JWKSCache:
    return JWKSCache(client, JWKS_URL, clock=clock, retry=ONE_TRY, **kwargs)


# --- rotation --------------------------------------------------------------------------


async def test_rotation_is_picked_up_after_exactly_one_refetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    old, new = factory.keys[0], generate_key("RS256", "rsa-2")
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [ok(jwks_of(old)), ok(jwks_of(old, new))]
    verifier = make_verifier(client, clock)
    await verifier.verify(factory.mint(now=NOW), ACCESS)
    assert route.call_count == 1

    rotated = factory.mint(key=new, now=NOW)
    assert (await verifier.verify(rotated, ACCESS)).header["kid"] == "rsa-2"
    assert route.call_count == 2
    # the new key is now cached: no further fetch for either key
    await verifier.verify(factory.mint(key=new, now=NOW), ACCESS)
    await verifier.verify(factory.mint(now=NOW), ACCESS)
    assert route.call_count == 2


async def test_removed_key_stops_verifying_after_refresh(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    old, new = factory.keys[0], generate_key("RS256", "rsa-2")
    respx_mock.get(JWKS_URL).side_effect = [ok(jwks_of(old)), ok(jwks_of(new))]
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=3600)
    await verifier.verify(token, ACCESS)
    clock.advance(300)  # the TTL: the next use refetches and the old key is gone
    with pytest.raises(InvalidToken, match="no key"):
        await verifier.verify(token, ACCESS)


async def test_ttl_refresh_happens_once_per_ttl(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(rsa_key)))
    keys = cache(client, clock, ttl_s=60)
    for _ in range(5):
        await keys.get_key("rsa-1", "RS256")
    assert route.call_count == 1
    clock.advance(59)
    await keys.get_key("rsa-1", "RS256")
    assert route.call_count == 1
    clock.advance(1)
    assert not keys.fresh
    await keys.get_key("rsa-1", "RS256")
    assert route.call_count == 2
    assert keys.fresh


async def test_version_changes_only_when_keys_change(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    other = generate_key("ES256", "ec-1")
    respx_mock.get(JWKS_URL).side_effect = [
        ok(jwks_of(rsa_key)),
        ok(jwks_of(rsa_key)),
        ok(jwks_of(rsa_key, other)),
    ]
    keys = cache(client, clock)
    assert (keys.version, keys.loaded) == (0, False)
    await keys.refresh()
    assert (keys.version, keys.loaded) == (1, True)
    await keys.refresh()
    assert keys.version == 1
    await keys.refresh()
    assert keys.version == 2
    assert keys.kids == {"rsa-1", "ec-1"}


# --- single-flight ---------------------------------------------------------------------


async def test_fifty_concurrent_unknown_kids_cause_one_fetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(factory.jwks()))
    verifier = make_verifier(client, clock)
    await verifier.verify(factory.mint(now=NOW), ACCESS)  # keys loaded
    assert route.call_count == 1

    gate = Gate(factory.jwks())
    route.side_effect = gate
    forged = [factory.mint(now=NOW, header={"kid": f"forged-{i}"}) for i in range(50)]
    tasks = [asyncio.ensure_future(verifier.verify(t, ACCESS)) for t in forged]
    await settle()
    assert gate.arrived == 1  # one refetch in flight, everyone waiting on it
    assert sum(t.done() for t in tasks) == 0
    gate.open()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results)
    assert route.call_count == 2


async def test_concurrent_tokens_of_a_rotated_key_share_one_fetch_and_pass(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    old, new = factory.keys[0], generate_key("RS256", "rsa-new")
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(old)))
    verifier = make_verifier(client, clock)
    await verifier.verify(factory.mint(now=NOW), ACCESS)

    gate = Gate(jwks_of(old, new))
    route.side_effect = gate
    tokens = [factory.mint(key=new, now=NOW) for _ in range(50)]
    tasks = [asyncio.ensure_future(verifier.verify(t, ACCESS)) for t in tokens]
    await settle()
    assert gate.arrived == 1
    gate.open()
    results = await asyncio.gather(*tasks)
    assert all(r.header["kid"] == "rsa-new" for r in results)
    assert route.call_count == 2


async def test_concurrent_cold_start_fetches_once(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    gate = Gate(factory.jwks())
    route = respx_mock.get(JWKS_URL).mock(side_effect=gate)
    verifier = make_verifier(client, clock)
    tasks = [
        asyncio.ensure_future(verifier.verify(factory.mint(now=NOW), ACCESS)) for _ in range(50)
    ]
    await settle()
    gate.open()
    assert len(await asyncio.gather(*tasks)) == 50
    assert route.call_count == 1


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    gate = Gate(jwks_of(rsa_key))
    route = respx_mock.get(JWKS_URL).mock(side_effect=gate)
    keys = cache(client, clock)
    impatient = asyncio.ensure_future(keys.get_key("rsa-1", "RS256"))
    patient = asyncio.ensure_future(keys.get_key("rsa-1", "RS256"))
    await settle()
    impatient.cancel()
    await settle()
    gate.open()
    assert (await patient).kid == "rsa-1"
    assert impatient.cancelled()
    assert route.call_count == 1


# --- cooldown --------------------------------------------------------------------------


async def test_forced_refetches_are_at_least_30_seconds_apart(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(rsa_key)))
    keys = cache(client, clock)
    await keys.refresh()
    with pytest.raises(InvalidToken):
        await keys.get_key("forged-1", "RS256")
    assert route.call_count == 2  # the one allowed forced refetch

    clock.advance(29.9)
    for i in range(20):
        with pytest.raises(InvalidToken):
            await keys.get_key(f"forged-{i}", "RS256")
    assert route.call_count == 2  # inside the cooldown: no network at all

    clock.advance(0.1)
    with pytest.raises(InvalidToken):
        await keys.get_key("forged-x", "RS256")
    assert route.call_count == 3


async def test_known_kid_with_unfitting_alg_does_not_refetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(rsa_key)))
    keys = cache(client, clock)
    await keys.refresh()
    with pytest.raises(InvalidToken):
        await keys.get_key("rsa-1", "ES256")
    assert route.call_count == 1


async def test_no_forced_refetch_right_after_a_ttl_refetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(rsa_key)))
    keys = cache(client, clock)
    await keys.refresh()
    clock.advance(300)
    with pytest.raises(InvalidToken):
        await keys.get_key("forged", "RS256")
    assert route.call_count == 2  # the TTL refetch was the one refetch


@pytest.mark.parametrize("cooldown", [0.0, 1.0, 29.99])
def test_cooldown_below_30_seconds_is_refused(cooldown: float, client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="30"):
        JWKSCache(client, JWKS_URL, refetch_cooldown_s=cooldown)


# --- stale-if-error --------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(503),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=b"{not json"),
        httpx.Response(200, json={"keys": "nope"}),
        httpx.Response(404),
    ],
    ids=["500", "503", "connect-timeout", "read-timeout", "refused", "bad-json", "no-list", "404"],
)
async def test_stale_if_error_keeps_cached_keys_and_fails_closed(
    failure: Any,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    factory: TokenFactory,
) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [ok(factory.jwks()), failure, failure, failure]
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=3600)
    await verifier.verify(token, ACCESS)

    clock.advance(301)  # keys are stale and the endpoint now fails
    other = factory.mint(now=clock.now, lifetime_s=3600)
    assert (await verifier.verify(other, ACCESS)).claims["sub"] == "user-1"
    assert route.call_count == 2
    # an unknown kid fails closed (and its forced refetch fails too)
    with pytest.raises(InvalidToken, match="no key"):
        await verifier.verify(factory.mint(now=clock.now, header={"kid": "new"}), ACCESS)
    assert route.call_count == 3


async def test_failing_endpoint_is_not_hammered(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [ok(factory.jwks())] + [httpx.Response(500)] * 10
    verifier = make_verifier(client, clock)
    await verifier.verify(factory.mint(now=NOW), ACCESS)
    clock.advance(301)
    for _ in range(100):  # every one of these finds the keys stale
        await verifier.verify(factory.mint(now=clock.now), ACCESS)
    assert route.call_count == 2  # one failed refresh, then the error backoff holds
    clock.advance(5)
    await verifier.verify(factory.mint(now=clock.now), ACCESS)
    assert route.call_count == 3


async def test_never_loaded_and_failing_is_a_provider_error_with_backoff(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [httpx.Response(500), httpx.Response(500), ok(jwks_of(rsa_key))]
    keys = cache(client, clock)
    with pytest.raises(ProviderError):
        await keys.get_key("rsa-1", "RS256")
    with pytest.raises(ProviderError, match="retrying"):
        await keys.get_key("rsa-1", "RS256")
    assert route.call_count == 1
    clock.advance(5)
    with pytest.raises(ProviderError):
        await keys.get_key("rsa-1", "RS256")
    clock.advance(5)
    assert (await keys.get_key("rsa-1", "RS256")).kid == "rsa-1"
    assert route.call_count == 3


async def test_explicit_refresh_ignores_the_error_backoff(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [httpx.Response(500), ok(jwks_of(rsa_key))]
    keys = cache(client, clock)
    with pytest.raises(ProviderError):
        await keys.refresh()
    await keys.refresh()  # e.g. a readiness probe: always asks
    assert keys.loaded
    assert route.call_count == 2


async def test_jwks_uri_may_come_from_an_async_callable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    route = respx_mock.get("https://idp.test/discovered").mock(return_value=ok(jwks_of(rsa_key)))

    async def discovered() -> str:
        return "https://idp.test/discovered"

    keys = JWKSCache(client, discovered, clock=clock, retry=ONE_TRY)
    assert (await keys.get_key("rsa-1", "RS256")).kid == "rsa-1"
    assert route.call_count == 1


async def test_jwks_uri_callable_failing_is_a_provider_error(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async def broken() -> str:
        raise RuntimeError("discovery exploded")

    keys = JWKSCache(client, broken, clock=clock, retry=ONE_TRY)
    with pytest.raises(ProviderError):
        await keys.get_key("rsa-1", "RS256")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, content=b'{"keys": [}'), "JSON"),
        (httpx.Response(200, json=[{"kty": "RSA"}]), "JSON object"),
        (httpx.Response(200, json={"keys": {"kty": "RSA"}}), "keys"),
        (httpx.Response(200, json={}), "keys"),
        (httpx.Response(200, content=b" " * (512 * 1024 + 1)), "more than"),
        (httpx.Response(200, content=b"<html>login</html>"), "JSON"),
    ],
    ids=["malformed", "array", "keys-object", "no-keys", "oversize", "html"],
)
async def test_bad_jwks_document_on_first_load_is_a_provider_error(
    response: httpx.Response,
    message: str,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=response)
    keys = cache(client, clock)
    with pytest.raises(ProviderError, match=message):
        await keys.get_key("rsa-1", "RS256")
    assert not keys.loaded


# --- which keys are usable -------------------------------------------------------------


def _small_rsa() -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    numbers = private.public_key().public_numbers()

    def b64(n: int) -> str:
        import base64

        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": "small", "alg": "RS256", "n": b64(numbers.n), "e": b64(numbers.e)}


@pytest.mark.parametrize(
    ("jwk_change", "kid", "alg"),
    [
        ({"use": "enc"}, "rsa-1", "RS256"),
        ({"key_ops": ["encrypt"]}, "rsa-1", "RS256"),
        ({"alg": "RS512"}, "rsa-1", "RS256"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "rsa-1", "RS256"),
        ({"kty": "XYZ"}, "rsa-1", "RS256"),
        ({"n": "!!!"}, "rsa-1", "RS256"),
    ],
    ids=["use-enc", "key-ops-without-verify", "alg-mismatch", "oct", "unknown-kty", "bad-modulus"],
)
async def test_unusable_keys_are_never_used(
    jwk_change: dict[str, Any],
    kid: str,
    alg: str,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    rsa_key: Any,
) -> None:
    jwk = {**rsa_key.as_dict(private=False), **jwk_change}
    respx_mock.get(JWKS_URL).mock(return_value=ok({"keys": [jwk, "not-an-object", 7]}))
    keys = cache(client, clock)
    with pytest.raises(InvalidToken):
        await keys.get_key(kid, alg)


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
async def test_rsa_keys_under_2048_bits_are_ignored(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=ok({"keys": [_small_rsa()]}))
    keys = cache(client, clock)
    with pytest.raises(InvalidToken):
        await keys.get_key("small", "RS256")


async def test_private_key_material_is_dropped(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, rsa_key: Any
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=ok({"keys": [rsa_key.as_dict(private=True)]}))
    keys = cache(client, clock)
    key = await keys.get_key("rsa-1", "RS256")
    assert isinstance(key, RSAKey)
    assert not key.is_private


async def test_key_without_alg_use_fits_by_type_and_curve(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ec, ed = generate_key("ES256", "ec"), generate_key("EdDSA", "ed")
    bare = [
        {k: v for k, v in key.as_dict(private=False).items() if k not in ("alg", "use")}
        for key in (ec, ed)
    ]
    respx_mock.get(JWKS_URL).mock(return_value=ok({"keys": bare}))
    keys = cache(client, clock)
    assert (await keys.get_key("ec", "ES256")).kid == "ec"
    assert (await keys.get_key("ed", "EdDSA")).kid == "ed"
    for kid, alg in (("ec", "ES384"), ("ec", "RS256"), ("ed", "ES256")):
        with pytest.raises(InvalidToken):
            await keys.get_key(kid, alg)


async def test_missing_kid_needs_an_unambiguous_key(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    a, b = generate_key("RS256", "a"), generate_key("RS256", "b")
    respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(a, b)))
    keys = cache(client, clock)
    with pytest.raises(InvalidToken):
        await keys.get_key(None, "RS256")


async def test_duplicate_kid_is_ambiguous_and_refused(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    a, b = generate_key("RS256", "same"), generate_key("RS256", "same")
    respx_mock.get(JWKS_URL).mock(return_value=ok(jwks_of(a, b)))
    keys = cache(client, clock)
    with pytest.raises(InvalidToken):
        await keys.get_key("same", "RS256")


async def test_oct_keys_never_reach_the_verifier(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    secret = OctKey.generate_key(256, parameters={"kid": "hmac"})
    respx_mock.get(JWKS_URL).mock(
        return_value=ok({"keys": [json.loads(json.dumps(secret.as_dict(private=True)))]})
    )
    keys = cache(client, clock)
    assert keys.kids == frozenset()
    with pytest.raises(InvalidToken):
        await keys.get_key("hmac", "RS256")
    assert keys.kids == frozenset()
