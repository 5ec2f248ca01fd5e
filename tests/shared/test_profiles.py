"""`shared.profiles`: per-use token rules (access, ID, logout) checked on claims alone."""

from typing import Any

import httpx
import pytest

from shared import InvalidToken, JWKSCache, TokenProfile, TokenVerifier
from shared.profiles import BACKCHANNEL_LOGOUT_EVENT, check_nonce, normalise_typ
from tests.shared.conftest import JWKS_URL
from tests.support.clock import NOW, FakeClock
from tests.support.tokens import ISSUER, TokenFactory

AUD = "https://api.test"


def test_empty_audience_list_is_refused() -> None:
    # joserfc skips the aud comparison for an empty list; never let that happen
    with pytest.raises(ValueError, match="audiences"):
        TokenProfile.access_token((), ("at+jwt",))
    with pytest.raises(ValueError, match="audiences"):
        TokenProfile("p", ("",), ("jwt",))


def test_no_token_types_is_refused() -> None:
    with pytest.raises(ValueError, match="token type"):
        TokenProfile.access_token((AUD,), ())


def test_profile_normalises_types_and_sequences() -> None:
    profile = TokenProfile("p", [AUD], ["Application/AT+JWT"])  # type: ignore[arg-type]
    assert profile.audiences == (AUD,)
    assert profile.token_types == ("at+jwt",)
    assert hash(profile) == hash(TokenProfile("p", (AUD,), ("at+jwt",)))


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("at+jwt", "at+jwt"), ("application/at+JWT", "at+jwt"), (" JWT ", "jwt"), ("JOSE", "jose")],
)
def test_normalise_typ(raw: str, normal: str) -> None:
    assert normalise_typ(raw) == normal


def check(profile: TokenProfile, claims: dict[str, Any]) -> None:
    assert profile.check is not None
    profile.check(claims)


@pytest.mark.parametrize("marker", ["at_hash", "c_hash", "s_hash", "events"])
def test_access_token_refuses_id_and_logout_token_markers(marker: str) -> None:
    with pytest.raises(InvalidToken, match="not an access token"):
        check(TokenProfile.access_token((AUD,), ("jwt",)), {marker: "x"})


@pytest.mark.parametrize("typ", ["ID", "Refresh", "Logout", "Offline"])
def test_access_token_refuses_keycloak_token_kinds(typ: str) -> None:
    with pytest.raises(InvalidToken):
        check(TokenProfile.access_token((AUD,), ("jwt",)), {"typ": typ})


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"sub": None}, False),
        ({"sub": ""}, False),  # names nobody
        ({"sub": None, "client_id": "svc"}, False),  # client credentials without its own sub
        ({"sub": "svc", "client_id": "svc"}, True),
        ({"sub": "alice"}, True),
    ],
)
async def test_access_token_requires_sub(
    factory: TokenFactory, claims: dict[str, Any], accepted: bool
) -> None:
    # RFC 9068 §2.2: `sub` is REQUIRED, client-credentials tokens carry the client's own
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=factory.jwks()))
    clock = FakeClock(NOW)
    profile = TokenProfile.access_token((AUD,), ("at+jwt",))
    async with httpx.AsyncClient(transport=transport) as client:
        verifier = TokenVerifier(
            JWKSCache(client, JWKS_URL, clock=clock), issuer=ISSUER, clock=clock
        )
        token = factory.mint(claims, now=NOW)
        if accepted:
            assert (await verifier.verify(token, profile)).claims["sub"] == claims["sub"]
        else:
            with pytest.raises(InvalidToken, match=r"required claim \(sub\)"):
                await verifier.verify(token, profile)


def test_access_token_accepts_keycloak_bearer_kind() -> None:
    check(TokenProfile.access_token((AUD,), ("jwt",)), {"typ": "Bearer", "nonce": "n", "sub": "u"})


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        ({"aud": "spa"}, True),
        ({"aud": ["spa"]}, True),
        ({"aud": ["spa", "api"], "azp": "spa"}, True),
        ({"aud": ["spa", "api"]}, False),
        ({"aud": "spa", "azp": "other"}, False),
        ({"aud": "spa", "azp": ["spa"]}, False),
    ],
)
def test_id_token_azp_rules(claims: dict[str, Any], ok: bool) -> None:
    profile = TokenProfile.id_token("spa")
    if ok:
        check(profile, claims)
    else:
        with pytest.raises(InvalidToken, match="azp"):
            check(profile, claims)


@pytest.mark.parametrize("nonce", [None, "", "other", 123, ["abc"]])
def test_id_token_nonce_must_match_exactly(nonce: Any) -> None:
    profile = TokenProfile.id_token("spa", nonce="abc")
    claims = {"aud": "spa"} if nonce is None else {"aud": "spa", "nonce": nonce}
    with pytest.raises(InvalidToken, match="nonce"):
        check(profile, claims)
    check(profile, {"aud": "spa", "nonce": "abc"})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sid": "s"}, None),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sub": "u"}, None),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sid": 1, "sub": 2}, "sid"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}}, "sid"),
        ({"events": [BACKCHANNEL_LOGOUT_EVENT], "sid": "s"}, "event"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: "x"}, "sid": "s"}, "event"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sid": "s", "nonce": None}, "nonce"),
    ],
)
def test_logout_token_rules(claims: dict[str, Any], reason: str | None) -> None:
    profile = TokenProfile.logout_token("spa")
    assert profile.token_types == ("logout+jwt",)
    assert not profile.cacheable
    if reason is None:
        check(profile, claims)
    else:
        with pytest.raises(InvalidToken, match=reason):
            check(profile, claims)


@pytest.mark.parametrize("nonce", [None, "", "other", 123, ["abc"], "abc "])
def test_check_nonce_refuses_all_but_the_exact_nonce(nonce: Any) -> None:
    claims = {} if nonce is None else {"nonce": nonce}
    with pytest.raises(InvalidToken, match="nonce"):
        check_nonce(claims, "abc")
    check_nonce({"nonce": "abc"}, "abc")
