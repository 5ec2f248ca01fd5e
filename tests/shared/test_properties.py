"""Property tests: whatever arrives, the verifier answers with a `SharedError` or a token
that really satisfies every rule, and nothing else ever escapes."""

import json
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared import InvalidToken, JWKSCache, TokenProfile, TokenVerifier, b64url_decode
from tests.shared.conftest import JWKS_URL
from tests.support.clock import NOW, FakeClock
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory, b64url, sign_raw

PROFILES = [
    TokenProfile.access_token((AUDIENCE,), ("at+jwt", "JWT")),
    TokenProfile.id_token(AUDIENCE, nonce="n"),
    TokenProfile.logout_token(AUDIENCE),
]
FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
B64URL = string.ascii_letters + string.digits + "-_"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
claim_names = st.sampled_from(
    ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "azp", "nonce", "sid", "events", "typ"]
)
header_names = st.sampled_from(
    ["alg", "kid", "typ", "crit", "b64", "jku", "x5u", "jwk", "x5c", "cty", "zip", "enc"]
)


@pytest.fixture
async def verifier(factory: TokenFactory) -> AsyncIterator[TokenVerifier]:
    # an in-process transport: no respx, so hypothesis may reuse it across examples
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=factory.jwks()))
    clock = FakeClock(NOW)
    async with httpx.AsyncClient(transport=transport) as client:
        keys = JWKSCache(client, JWKS_URL, clock=clock)
        yield TokenVerifier(keys, issuer=ISSUER, clock=clock, cache_size=16)


async def expect_only_shared_errors(verifier: TokenVerifier, token: object) -> bool:
    """Verify under every profile; True if some profile accepted the token."""
    accepted = False
    codes = set()
    for profile in PROFILES:
        try:
            await verifier.verify(token, profile)
            accepted = True
        except InvalidToken as exc:  # anything else fails the test by escaping
            codes.add(exc.error)
    assert codes <= {"invalid_token"}
    return accepted


@FAST
@given(data=st.binary(max_size=2048))
async def test_random_bytes(verifier: TokenVerifier, data: bytes) -> None:
    assert not await expect_only_shared_errors(verifier, data)
    assert not await expect_only_shared_errors(verifier, data.decode("latin-1"))


@FAST
@given(text=st.text(max_size=600))
async def test_random_text(verifier: TokenVerifier, text: str) -> None:
    assert not await expect_only_shared_errors(verifier, text)


@FAST
@given(
    segments=st.lists(st.text(alphabet=B64URL, min_size=0, max_size=300), min_size=1, max_size=6)
)
async def test_random_base64url_segments(verifier: TokenVerifier, segments: list[str]) -> None:
    assert not await expect_only_shared_errors(verifier, ".".join(segments))


@st.composite
def mutated(draw: st.DrawFn, token: str) -> str:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "swap", "truncate", "dup"]))
    i = draw(st.integers(min_value=0, max_value=len(token) - 1))
    if kind == "flip":
        char = draw(st.characters(codec="utf-8"))
        return token[:i] + char + token[i + 1 :]
    if kind == "insert":
        return token[:i] + draw(st.text(min_size=1, max_size=5)) + token[i:]
    if kind == "delete":
        j = draw(st.integers(min_value=i + 1, max_value=len(token)))
        return token[:i] + token[j:]
    if kind == "swap":
        h, p, s = token.split(".")
        order = draw(st.permutations([h, p, s]))
        return ".".join(order)
    if kind == "truncate":
        return token[:i]
    return token + token[i:]


@FAST
@given(data=st.data())
async def test_mutated_real_tokens(
    verifier: TokenVerifier, factory: TokenFactory, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(factory.keys))
    original = factory.mint(key=key, now=NOW)
    token = data.draw(mutated(original))
    assume(token != original)
    assert not await expect_only_shared_errors(verifier, token)


@FAST
@given(
    header=st.dictionaries(header_names, json_values, max_size=5),
    base=st.sampled_from(["keep", "replace"]),
)
async def test_random_headers_with_a_real_signature(
    verifier: TokenVerifier, factory: TokenFactory, header: dict[str, Any], base: str
) -> None:
    original = factory.mint(now=NOW)
    h, p, s = original.split(".")
    if base == "keep":
        header = {**json.loads(b64url_decode(h)), **header}
    try:
        forged = f"{b64url(json.dumps(header))}.{p}.{s}"
    except ValueError:
        return
    assume(forged != original)
    assert not await expect_only_shared_errors(verifier, forged)


@FAST
@given(
    claims=st.dictionaries(claim_names, json_values, max_size=8),
    typ=st.sampled_from(["at+jwt", "JWT", "logout+jwt", None]),
)
async def test_genuinely_signed_random_claims_obey_every_rule_when_accepted(
    verifier: TokenVerifier, factory: TokenFactory, claims: dict[str, Any], typ: str | None
) -> None:
    # start from a valid token and let hypothesis overwrite any claim with any JSON value
    body = {**factory.claims(now=NOW), **claims}
    header = {"alg": "RS256", "kid": "rsa-1", **({"typ": typ} if typ else {})}
    try:
        token = sign_raw(header, json.dumps(body).encode(), factory.keys[0])
    except ValueError:
        return
    for profile in PROFILES:
        try:
            verified = await verifier.verify(token, profile)
        except InvalidToken:
            continue
        got = verified.claims
        assert got["iss"] == ISSUER
        audiences = got["aud"] if isinstance(got["aud"], list) else [got["aud"]]
        assert set(audiences) & set(profile.audiences)
        assert isinstance(got["exp"], int | float)
        assert not isinstance(got["exp"], bool)
        assert got["exp"] > NOW - 30
        for name in ("nbf", "iat"):
            if name in got:
                assert got[name] <= NOW + 30
