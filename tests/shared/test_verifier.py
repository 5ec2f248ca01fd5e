"""`shared.verifier`: the token attack matrix and the verified-token cache."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwe
from joserfc.jwk import OctKey

from shared import (
    InvalidToken,
    ProviderError,
    TokenProfile,
    TokenVerifier,
    VerifiedToken,
    b64url_decode,
)
from shared.verifier import BACKCHANNEL_LOGOUT_EVENT, MAX_TOKEN_BYTES
from tests.shared.conftest import JWKS_URL, make_verifier
from tests.support.clock import NOW, FakeClock
from tests.support.tokens import (
    AUDIENCE,
    ISSUER,
    TokenFactory,
    b64url,
    forge_hs256,
    forge_unsigned,
    generate_key,
    public_pem,
    sign_raw,
)

CLIENT_ID = "spa-client"
LEEWAY = 30  # the verifier's default, in seconds
ACCESS = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "application/at+jwt", "JWT"))
STRICT = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "application/at+jwt"))
PROFILES = {
    "access": ACCESS,
    "strict": STRICT,
    "id": TokenProfile.id_token(CLIENT_ID),
    "id_nonce": TokenProfile.id_token(CLIENT_ID, nonce="n-0S6_WzA2Mj"),
    "logout": TokenProfile.logout_token(CLIENT_ID),
}
LOGOUT_EVENTS: dict[str, dict[str, Any]] = {BACKCHANNEL_LOGOUT_EVENT: {}}


@dataclass
class Ctx:
    """What a matrix case may use to build its token."""

    trusted: TokenFactory
    attacker: TokenFactory

    def key(self, kid: str) -> Any:
        return next(k for k in self.trusted.keys if k.kid == kid)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return self.trusted.claims(now=NOW, **overrides)

    def mint(self, kid: str = "rsa-1", header: dict[str, Any] | None = None, **claims: Any) -> str:
        return self.trusted.mint(key=self.key(kid), header=header, now=NOW, **claims)

    def raw(self, header: dict[str, Any], payload: Any, alg: str | None = None) -> str:
        """Genuinely signed by the trusted RSA key, with exactly this header and payload."""
        return sign_raw(header, payload, self.key("rsa-1"), alg=alg)

    def id_token(self, **claims: Any) -> str:
        defaults: dict[str, Any] = {"aud": CLIENT_ID, "scope": None, "jti": None}
        return self.mint(header={"typ": "JWT"}, **{**defaults, **claims})

    def logout_token(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        defaults: dict[str, Any] = {
            "aud": CLIENT_ID,
            "scope": None,
            "sid": "session-1",
            "events": LOGOUT_EVENTS,
        }
        return self.mint(header={"typ": "logout+jwt", **(header or {})}, **{**defaults, **claims})


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "admin"
    return f"{header}.{b64url(claims)}.{signature}"


def _tamper_signature(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{b64url(bytes(raw))}"


def _jwe(ctx: Ctx) -> str:
    key = OctKey.generate_key(256)
    registry = jwe.JWERegistry(algorithms=["dir", "A256GCM"])
    payload = json.dumps(ctx.claims())
    return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, payload, key, registry=registry)


def _ecdsa_zero_signature(ctx: Ctx) -> str:
    # CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify
    head = f"{b64url({**AT, 'alg': 'ES256', 'kid': 'ec-1'})}.{b64url(ctx.claims())}"
    return f"{head}.{b64url(bytes(64))}"


def _ecdsa_der_signature(ctx: Ctx) -> str:
    # JWS wants raw r||s (RFC 7518 §3.4); a DER-encoded signature is a different token
    head = f"{b64url({**AT, 'alg': 'ES256', 'kid': 'ec-1'})}.{b64url(ctx.claims())}"
    der = ctx.key("ec-1").get_op_key("sign").sign(head.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{head}.{b64url(der)}"


def _oversized(ctx: Ctx) -> str:
    token = ctx.mint(padding="x" * MAX_TOKEN_BYTES)
    assert len(token) > MAX_TOKEN_BYTES
    return token


def _embedded_jwk(ctx: Ctx) -> str:
    # an EC key keeps the header under joserfc's 512-byte cap, so our own rule is what fires
    key = generate_key("ES256", "ec-1")
    header = {"alg": "ES256", "typ": "at+jwt", "kid": "ec-1", "jwk": key.as_dict(private=False)}
    return sign_raw(header, ctx.claims(), key)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Ctx], str]
    #: None: accepted; otherwise a fragment of the InvalidToken description
    rejected_because: str | None
    profile: str = "access"


OK = None
AT = {"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}

CASES = [
    # --- accepted ---------------------------------------------------------------------
    Case("valid-RS256", lambda c: c.mint("rsa-1"), OK),
    Case("valid-PS256", lambda c: c.mint("ps-1"), OK),
    Case("valid-ES256", lambda c: c.mint("ec-1"), OK),
    Case("valid-EdDSA", lambda c: c.mint("ed-1"), OK),
    Case("typ-JWT-allowed", lambda c: c.mint(header={"typ": "JWT"}), OK),
    Case("typ-media-type", lambda c: c.mint(header={"typ": "application/at+JWT"}), OK),
    Case("typ-absent-counts-as-JWT", lambda c: c.mint(header={"typ": None}), OK),
    Case("aud-list-containing-ours", lambda c: c.mint(aud=["other", AUDIENCE]), OK),
    Case("no-kid-unambiguous-key", lambda c: c.mint("ec-1", header={"kid": None}), OK),
    Case("unknown-noncritical-header-ignored", lambda c: c.raw({**AT, "x-v": 1}, c.claims()), OK),
    Case("exp-inside-leeway", lambda c: c.mint(exp=int(NOW) - LEEWAY + 1), OK),
    Case("nbf-at-leeway-edge", lambda c: c.mint(nbf=int(NOW) + LEEWAY), OK),
    Case("iat-at-leeway-edge", lambda c: c.mint(iat=int(NOW) + LEEWAY), OK),
    Case("float-exp", lambda c: c.mint(exp=NOW + 60.5), OK),
    # --- algorithm confusion ----------------------------------------------------------
    Case("alg-none", lambda c: forge_unsigned({**AT, "alg": "none"}, c.claims()), "malformed"),
    Case(
        "alg-none-with-junk-signature",
        lambda c: forge_unsigned({**AT, "alg": "none"}, c.claims()) + "AAAA",
        "algorithm is not allowed",
    ),
    Case(
        "alg-NONE-casing",
        lambda c: forge_unsigned({**AT, "alg": "NONE"}, c.claims()) + "AAAA",
        "algorithm is not allowed",
    ),
    Case(
        "HS256-keyed-with-RSA-public-PEM",
        lambda c: forge_hs256({**AT, "alg": "HS256"}, c.claims(), public_pem(c.key("rsa-1"))),
        "algorithm is not allowed",
    ),
    Case(
        "HS256-keyed-with-JWKS-JSON",
        lambda c: forge_hs256(
            {**AT, "alg": "HS256"},
            c.claims(),
            json.dumps(c.key("rsa-1").as_dict(private=False)).encode(),
        ),
        "algorithm is not allowed",
    ),
    Case("alg-missing", lambda c: c.raw({"kid": "rsa-1"}, c.claims(), alg="RS256"), "alg"),
    Case(
        "alg-not-a-string",
        lambda c: c.raw({**AT, "alg": ["RS256"]}, c.claims(), alg="RS256"),
        "algorithm is not allowed",
    ),
    # --- key selection ----------------------------------------------------------------
    Case("unknown-kid", lambda c: c.mint(header={"kid": "nope"}), "no key"),
    Case("kid-not-a-string", lambda c: c.raw({**AT, "kid": 7}, c.claims()), "kid"),
    Case(
        "ES256-token-naming-RSA-kid",
        lambda c: c.mint("ec-1", header={"kid": "rsa-1"}),
        "no key",
    ),
    Case(
        "RS256-token-naming-EC-kid",
        lambda c: sign_raw({**AT, "kid": "ec-1"}, c.claims(), c.attacker.keys[0]),
        "no key",
    ),
    Case(
        "PS256-token-naming-RS256-only-key",
        lambda c: c.mint("ps-1", header={"kid": "rsa-1"}),
        "no key",
    ),
    Case(
        "EdDSA-token-naming-EC-kid",
        lambda c: c.mint("ed-1", header={"kid": "ec-1"}),
        "no key",
    ),
    Case(
        "other-issuer-key-reusing-trusted-kid",
        lambda c: c.attacker.mint(now=NOW, header={"kid": "rsa-1"}),
        "signature",
    ),
    Case(
        "attacker-key-reusing-kid-with-our-iss",
        lambda c: c.attacker.mint(now=NOW, iss=ISSUER, header={"kid": "rsa-1"}),
        "signature",
    ),
    # --- headers that pick keys or change processing ----------------------------------
    Case("crit-header", lambda c: c.raw({**AT, "crit": ["exp"], "exp": 1}, c.claims()), "ext"),
    Case("crit-empty", lambda c: c.raw({**AT, "crit": []}, c.claims()), "extensions"),
    Case("b64-false", lambda c: c.raw({**AT, "b64": False, "crit": ["b64"]}, c.claims()), "ext"),
    Case("b64-false-uncritical", lambda c: c.raw({**AT, "b64": False}, c.claims()), "crit"),
    Case("jku", lambda c: c.raw({**AT, "jku": "https://evil.test/jwks"}, c.claims()), "own key"),
    Case("x5u", lambda c: c.raw({**AT, "x5u": "https://evil.test/cert"}, c.claims()), "own key"),
    Case("x5c", lambda c: c.raw({**AT, "x5c": ["MIIB"]}, c.claims()), "own key"),
    Case("jwk-embedded", _embedded_jwk, "own key"),
    Case("header-not-an-object", lambda c: f"{b64url('[1]')}.{b64url('{}')}.AAAA", "rejected"),
    # --- token type -------------------------------------------------------------------
    Case("typ-JWT-refused-when-strict", lambda c: c.mint(header={"typ": "JWT"}), "typ", "strict"),
    Case("typ-absent-refused-when-strict", lambda c: c.mint(header={"typ": None}), "typ", "strict"),
    Case("typ-not-a-string", lambda c: c.raw({**AT, "typ": 1}, c.claims()), "typ"),
    Case("logout-token-as-access-token", lambda c: c.logout_token(aud=AUDIENCE), "typ"),
    Case("id-token-as-access-token", lambda c: c.id_token(aud=AUDIENCE, at_hash="x"), "access"),
    Case("id-token-marked-by-typ-claim", lambda c: c.mint(typ="ID"), "not an access token"),
    Case("access-token-as-id-token", lambda c: c.mint(aud=CLIENT_ID), "typ", "id"),
    # --- time -------------------------------------------------------------------------
    Case("expired", lambda c: c.mint(exp=int(NOW) - 3600), "expired"),
    Case("expired-at-leeway-edge", lambda c: c.mint(exp=int(NOW) - LEEWAY), "expired"),
    Case("nbf-beyond-leeway", lambda c: c.mint(nbf=int(NOW) + LEEWAY + 1), "nbf"),
    Case("iat-beyond-leeway", lambda c: c.mint(iat=int(NOW) + LEEWAY + 1), "iat"),
    Case("missing-exp", lambda c: c.mint(exp=None), "exp"),
    Case("exp-as-string", lambda c: c.mint(exp=str(int(NOW) + 60)), "exp"),
    Case("exp-as-boolean", lambda c: c.mint(exp=True), "exp"),
    Case(
        "exp-NaN",
        lambda c: c.raw(
            AT, b'{"iss":"%s","aud":"%s","exp":NaN}' % (ISSUER.encode(), AUDIENCE.encode())
        ),
        "exp",
    ),
    # --- issuer and audience ----------------------------------------------------------
    Case("wrong-iss", lambda c: c.mint(iss="https://evil.test"), "iss"),
    Case("iss-with-trailing-slash", lambda c: c.mint(iss=ISSUER + "/"), "iss"),
    Case("iss-different-case", lambda c: c.mint(iss=ISSUER.upper()), "iss"),
    Case("missing-iss", lambda c: c.mint(iss=None), "iss"),
    Case("iss-as-list", lambda c: c.mint(iss=[ISSUER]), "iss"),
    Case("wrong-aud", lambda c: c.mint(aud="https://other.test"), "aud"),
    Case("missing-aud", lambda c: c.mint(aud=None), "aud"),
    Case("aud-empty-list", lambda c: c.mint(aud=[]), "aud"),
    Case("aud-list-without-ours", lambda c: c.mint(aud=["a", "b"]), "aud"),
    Case("aud-prefix-of-ours", lambda c: c.mint(aud=AUDIENCE[:-1]), "aud"),
    Case("sub-not-a-string", lambda c: c.mint(sub=42), "sub"),
    # --- structure --------------------------------------------------------------------
    Case("tampered-payload", lambda c: _tamper_payload(c.mint()), "signature"),
    Case("tampered-signature", lambda c: _tamper_signature(c.mint()), "signature"),
    Case("ecdsa-zero-signature", _ecdsa_zero_signature, "signature"),
    Case("ecdsa-der-signature", _ecdsa_der_signature, "signature"),
    Case("nested-jwt-payload", lambda c: c.raw({**AT, "cty": "JWT"}, c.mint().encode()), "JSON"),
    Case("truncated-signature", lambda c: c.mint()[:-10], "signature"),
    Case("truncated-to-two-segments", lambda c: c.mint().rsplit(".", 1)[0], "malformed"),
    Case("empty-signature", lambda c: c.mint().rsplit(".", 1)[0] + ".", "malformed"),
    Case("extra-segment", lambda c: c.mint() + ".AAAA", "malformed"),
    Case("non-base64-character", lambda c: c.mint().replace(".", ".!", 1), "malformed"),
    Case("base64-padding", lambda c: c.mint() + "==", "malformed"),
    Case("trailing-newline", lambda c: c.mint() + "\n", "malformed"),
    Case("bearer-prefix-left-in", lambda c: "Bearer " + c.mint(), "malformed"),
    Case("empty-string", lambda c: "", "malformed"),
    Case("oversized-but-genuinely-signed", _oversized, "too large"),
    Case("JWE-compact", _jwe, "JWE"),
    Case("payload-not-json", lambda c: c.raw(AT, b"not json"), "JSON"),
    Case("payload-json-array", lambda c: c.raw(AT, b"[1,2]"), "JSON object"),
    # --- ID tokens (OIDC Core §3.1.3.7) ----------------------------------------------
    Case("valid-id-token", lambda c: c.id_token(), OK, "id"),
    Case(
        "id-token-several-aud-without-azp", lambda c: c.id_token(aud=[CLIENT_ID, "x"]), "azp", "id"
    ),
    Case("id-token-azp-other-client", lambda c: c.id_token(azp="other"), "azp", "id"),
    Case("id-token-missing-sub", lambda c: c.id_token(sub=None), "sub", "id"),
    Case("id-token-nonce-matches", lambda c: c.id_token(nonce="n-0S6_WzA2Mj"), OK, "id_nonce"),
    Case("id-token-nonce-differs", lambda c: c.id_token(nonce="other"), "nonce", "id_nonce"),
    Case("id-token-nonce-missing", lambda c: c.id_token(), "nonce", "id_nonce"),
    # --- logout tokens (OIDC Back-Channel Logout 1.0 §2.6) ----------------------------
    Case("valid-logout-token-sid", lambda c: c.logout_token(), OK, "logout"),
    Case("valid-logout-token-sub-only", lambda c: c.logout_token(sid=None), OK, "logout"),
    Case("logout-typ-missing", lambda c: c.logout_token(header={"typ": None}), "typ", "logout"),
    Case("logout-typ-JWT", lambda c: c.logout_token(header={"typ": "JWT"}), "typ", "logout"),
    Case("logout-events-missing", lambda c: c.logout_token(events=None), "events", "logout"),
    Case(
        "logout-events-other-member",
        lambda c: c.logout_token(events={"urn:other": {}}),
        "event",
        "logout",
    ),
    Case(
        "logout-event-not-an-object",
        lambda c: c.logout_token(events={BACKCHANNEL_LOGOUT_EVENT: True}),
        "event",
        "logout",
    ),
    Case("logout-with-nonce", lambda c: c.logout_token(nonce="n"), "nonce", "logout"),
    Case(
        "logout-neither-sid-nor-sub", lambda c: c.logout_token(sub=None, sid=None), "sid", "logout"
    ),
    Case("logout-missing-jti", lambda c: c.logout_token(jti=None), "jti", "logout"),
    Case("logout-missing-iat", lambda c: c.logout_token(iat=None), "iat", "logout"),
    Case("id-token-as-logout-token", lambda c: c.id_token(), "typ", "logout"),
]


@pytest.fixture(scope="module")
def ctx(factory: TokenFactory) -> Ctx:
    attacker = TokenFactory(issuer="https://evil.test", keys=[generate_key("RS256", "rsa-1")])
    return Ctx(trusted=factory, attacker=attacker)


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert sum(case.rejected_because is None for case in CASES) >= 8


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_attack_matrix(
    case: Case, ctx: Ctx, respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=ctx.trusted.jwks()))
    verifier = make_verifier(client, FakeClock(NOW))
    token = case.build(ctx)
    profile = PROFILES[case.profile]
    if case.rejected_because is None:
        verified = await verifier.verify(token, profile)
        assert verified.claims["iss"] == ISSUER
        assert verified.header["alg"] in ("RS256", "PS256", "ES256", "EdDSA")
        return
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token, profile)
    assert caught.value.error == "invalid_token"
    assert case.rejected_because.lower() in caught.value.description.lower()
    # a description never echoes the token back
    assert not token or token[:40] not in caught.value.description


# --- everything else about the verifier -------------------------------------------------


@pytest.fixture
def jwks_route(respx_mock: respx.MockRouter, factory: TokenFactory) -> respx.Route:
    return respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=factory.jwks()))


@pytest.mark.parametrize("bad", [None, 123, b"a.b.c", ["a.b.c"], object()])
async def test_non_string_tokens_are_invalid_token(
    bad: object, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = make_verifier(client, clock)
    with pytest.raises(InvalidToken, match="not a string"):
        await verifier.verify(bad, ACCESS)


async def test_structurally_bad_tokens_never_touch_the_network(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    route = respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": []}))
    verifier = make_verifier(client, clock)
    for token in ("", "a.b", "a.b.c.d", "x" * (MAX_TOKEN_BYTES + 1), "é.é.é"):
        with pytest.raises(InvalidToken):
            await verifier.verify(token, ACCESS)
    assert route.call_count == 0


async def test_unexpected_exception_inside_becomes_invalid_token(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    def explode(claims: Any) -> None:
        raise KeyError("boom")

    profile = TokenProfile("custom", (AUDIENCE,), ("at+jwt",), check=explode)
    verifier = make_verifier(client, clock)
    with pytest.raises(InvalidToken, match="malformed"):
        await verifier.verify(factory.mint(now=NOW), profile)


async def test_no_key_set_ever_loaded_is_a_provider_error(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(503))
    verifier = make_verifier(client, clock)
    with pytest.raises(ProviderError) as caught:
        await verifier.verify(factory.mint(now=NOW), ACCESS)
    assert caught.value.error == "provider_unavailable"


async def test_leeway_is_configurable(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    from shared import JWKSCache

    keys = JWKSCache(client, JWKS_URL, clock=clock)
    strict = TokenVerifier(keys, issuer=ISSUER, clock=clock, leeway_s=0)
    just_expired = factory.mint(now=NOW, exp=int(NOW))
    with pytest.raises(InvalidToken, match="expired"):
        await strict.verify(just_expired, ACCESS)
    assert (await strict.verify(factory.mint(now=NOW, exp=int(NOW) + 1), ACCESS)).claims


async def test_several_configured_audiences_any_of(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    profile = TokenProfile.access_token(("https://a.test", AUDIENCE), ("at+jwt",))
    verifier = make_verifier(client, clock)
    assert await verifier.verify(factory.mint(now=NOW), profile)
    with pytest.raises(InvalidToken, match="aud"):
        await verifier.verify(factory.mint(now=NOW, aud="https://b.test"), profile)


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ("RS256", "HS512"), ("XX999",), ()])
def test_refused_algorithm_allowlists(
    algorithms: tuple[str, ...], client: httpx.AsyncClient
) -> None:
    from shared import JWKSCache

    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(JWKSCache(client, JWKS_URL), issuer=ISSUER, algorithms=algorithms)


async def test_algorithm_outside_allowlist_refused(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    from shared import JWKSCache

    rs_only = TokenVerifier(
        JWKSCache(client, JWKS_URL, clock=clock), issuer=ISSUER, algorithms=("RS256",), clock=clock
    )
    es_token = factory.mint(key=factory.keys[2], now=NOW)
    with pytest.raises(InvalidToken, match="algorithm"):
        await rs_only.verify(es_token, ACCESS)


# --- the verified-token cache -------------------------------------------------------------


class KeyLookupCounter:
    """Counts signature checks by wrapping the key lookup the verifier makes per miss."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.lookups = 0
        keys = verifier._keys
        original = keys.get_key

        async def counted(kid: str | None, alg: str) -> Any:
            self.lookups += 1
            return await original(kid, alg)

        keys.get_key = counted  # type: ignore[method-assign]


async def test_repeated_token_is_served_from_cache(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    verifier = make_verifier(client, clock)
    counter = KeyLookupCounter(verifier)
    token = factory.mint(now=NOW)
    first = await verifier.verify(token, ACCESS)
    second = await verifier.verify(token, ACCESS)
    assert second is first
    assert counter.lookups == 1


async def test_cache_entry_dies_at_exp(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=60)
    await verifier.verify(token, ACCESS)
    clock.advance(60)  # exactly exp: no longer served from the cache...
    counter = KeyLookupCounter(verifier)
    # ...but still inside the leeway, so re-verified in full and accepted
    await verifier.verify(token, ACCESS)
    assert counter.lookups == 1
    clock.advance(LEEWAY)
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token, ACCESS)


async def test_cache_is_dropped_when_the_key_set_changes(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    rsa = factory.keys[0]
    rotated = TokenFactory(keys=[rsa, generate_key("ES256", "ec-new")])
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [
        httpx.Response(200, json=factory.jwks()),
        httpx.Response(200, json=rotated.jwks()),
    ]
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=3600)
    await verifier.verify(token, ACCESS)
    clock.advance(301)  # past the 5-minute JWKS TTL: the next lookup refetches
    counter = KeyLookupCounter(verifier)
    await verifier.verify(token, ACCESS)
    assert route.call_count == 2
    assert counter.lookups == 1  # the key set changed, so the entry was not trusted


async def test_cache_survives_a_refetch_of_an_unchanged_key_set(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=3600)
    await verifier.verify(token, ACCESS)
    clock.advance(301)
    counter = KeyLookupCounter(verifier)
    await verifier.verify(token, ACCESS)
    assert jwks_route.call_count == 2
    assert counter.lookups == 0


async def test_cache_is_keyed_by_profile(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    # a token accepted for one audience must not be served to a profile of another
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW)
    await verifier.verify(token, ACCESS)
    other = TokenProfile.access_token(("https://elsewhere.test",), ("at+jwt",))
    with pytest.raises(InvalidToken, match="aud"):
        await verifier.verify(token, other)


async def test_cache_is_bounded_lru(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    verifier = make_verifier(client, clock, cache_size=2)
    a, b, c = (factory.mint(now=NOW) for _ in range(3))
    for token in (a, b, a, c):  # c evicts b, the least recently used
        await verifier.verify(token, ACCESS)
    counter = KeyLookupCounter(verifier)
    await verifier.verify(a, ACCESS)
    await verifier.verify(c, ACCESS)
    assert counter.lookups == 0
    await verifier.verify(b, ACCESS)
    assert counter.lookups == 1


@pytest.mark.parametrize("profile", ["id", "logout"])
async def test_one_time_tokens_are_never_cached(
    profile: str, ctx: Ctx, respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=ctx.trusted.jwks()))
    verifier = make_verifier(client, FakeClock(NOW))
    token = ctx.id_token() if profile == "id" else ctx.logout_token()
    counter = KeyLookupCounter(verifier)
    await verifier.verify(token, PROFILES[profile])
    await verifier.verify(token, PROFILES[profile])
    assert counter.lookups == 2


async def test_cache_disabled(
    jwks_route: respx.Route, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    verifier = make_verifier(client, clock, cache_size=0)
    counter = KeyLookupCounter(verifier)
    token = factory.mint(now=NOW)
    await verifier.verify(token, ACCESS)
    await verifier.verify(token, ACCESS)
    assert counter.lookups == 2


def test_verified_token_expiry() -> None:
    assert VerifiedToken(header={}, claims={"exp": 5}).expires_at == 5.0
    assert VerifiedToken(header={}, claims={}).expires_at == float("inf")


async def test_cached_tokens_keep_working_while_the_jwks_endpoint_fails(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, factory: TokenFactory
) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [httpx.Response(200, json=factory.jwks())] + [httpx.Response(500)] * 5
    verifier = make_verifier(client, clock)
    token = factory.mint(now=NOW, lifetime_s=3600)
    await verifier.verify(token, ACCESS)
    clock.advance(301)
    counter = KeyLookupCounter(verifier)
    assert (await verifier.verify(token, ACCESS)).claims["sub"] == "user-1"
    assert counter.lookups == 0  # the key set is unchanged as far as we know: still a hit
    assert route.call_count == 2


async def test_fully_specified_ed25519_algorithm_when_configured(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    # RFC 9864 names the algorithm after the curve; accepted only when listed
    from shared import JWKSCache

    factory = TokenFactory(keys=[generate_key("Ed25519", "ed-new")])
    respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=factory.jwks()))
    keys = JWKSCache(client, JWKS_URL, clock=clock)
    token = factory.mint(now=NOW)
    listed = TokenVerifier(keys, issuer=ISSUER, clock=clock, algorithms=("Ed25519",))
    assert (await listed.verify(token, ACCESS)).header["alg"] == "Ed25519"
    default = TokenVerifier(keys, issuer=ISSUER, clock=clock)
    with pytest.raises(InvalidToken, match="algorithm"):
        await default.verify(token, ACCESS)


def test_expires_at_never_raises() -> None:
    assert VerifiedToken({}, {"exp": 1_700_000_300}).expires_at == 1_700_000_300.0
    assert VerifiedToken({}, {}).expires_at == math.inf
    assert VerifiedToken({}, {"exp": 10**400}).expires_at == math.inf  # past a float's range
