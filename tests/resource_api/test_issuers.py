"""Several issuers (SPEC `API_OIDC_ISSUER`): the token's `iss` picks whose keys check it."""

from typing import Any

import httpx
import pytest

from resource_api.issuers import build_verifiers
from resource_api.settings import load_settings
from shared import InvalidToken, SettingsError, TokenProfile
from tests.support.tokens import AUDIENCE, TokenFactory, generate_key

A = TokenFactory(issuer="https://idp-a.test", keys=[generate_key("RS256", "a-1")])
B = TokenFactory(issuer="https://idp-b.test", keys=[generate_key("RS256", "b-1")])
PROFILE = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "JWT"))


def _providers(*factories: TokenFactory) -> httpx.AsyncClient:
    by_host = {httpx.URL(f.issuer).host: f for f in factories}

    def handler(request: httpx.Request) -> httpx.Response:
        factory = by_host[request.url.host]
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": factory.issuer,
                    "authorization_endpoint": f"{factory.issuer}/auth",
                    "token_endpoint": f"{factory.issuer}/token",
                    "jwks_uri": f"{factory.issuer}/jwks",
                },
            )
        return httpx.Response(200, json=factory.jwks())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _settings(**values: Any) -> Any:
    base = {"oidc_issuer": f"{A.issuer},{B.issuer}", "audience": AUDIENCE}
    return load_settings({**base, **values})


async def test_each_issuer_is_checked_with_its_own_keys() -> None:
    async with _providers(A, B) as client:
        verifiers = build_verifiers(_settings(), client, PROFILE)
        for factory in (A, B):
            verified = await verifiers.verify(factory.mint(sub="same-sub"), PROFILE)
            assert verified.claims["iss"] == factory.issuer


async def test_a_token_cannot_borrow_another_issuers_name() -> None:
    async with _providers(A, B) as client:
        verifiers = build_verifiers(_settings(), client, PROFILE)
        forged = A.mint(sub="x", iss=B.issuer)  # A's key, B's name
        with pytest.raises(InvalidToken):
            await verifiers.verify(forged, PROFILE)


async def test_an_unlisted_issuer_is_invalid() -> None:
    other = TokenFactory(issuer="https://idp-c.test", keys=[generate_key("RS256", "c-1")])
    async with _providers(A, B, other) as client:
        verifiers = build_verifiers(_settings(), client, PROFILE)
        with pytest.raises(InvalidToken, match="issuer is not accepted"):
            await verifiers.verify(other.mint(sub="x"), PROFILE)


async def test_an_opaque_token_without_introspection_is_invalid() -> None:
    async with _providers(A, B) as client:
        verifiers = build_verifiers(_settings(), client, PROFILE)
        with pytest.raises(InvalidToken):
            await verifiers.verify("opaque0123456789", PROFILE)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"oidc_issuer": "https://a.test,https://a.test"}, "listed twice"),
        ({"oidc_issuer": "https://a.test,"}, "empty issuer"),
        ({"oidc_issuer": "http://idp.example.com"}, "https"),
        ({"introspection_client_id": "api"}, "go together"),
    ],
)
def test_bad_issuer_and_introspection_settings(values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(**values)
    assert message in str(caught.value.problems)


def test_loopback_http_issuers_are_allowed_for_development() -> None:
    settings = _settings(oidc_issuer="http://127.0.0.1:9100,http://localhost:9200/o")
    assert settings.issuers == ("http://127.0.0.1:9100", "http://localhost:9200/o")
