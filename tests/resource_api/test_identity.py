"""identity.py and the subject check in auth.py: token claims the database cannot store."""

import httpx
import pytest

from tests.resource_api.conftest import TOKEN_LIFETIME_S, bearer
from tests.support.tokens import TokenFactory, sign_raw


def _mint(tokens: TokenFactory, **claims: str) -> str:
    """Like `tokens.mint`, but with the payload as escaped ASCII JSON: a lone surrogate
    ("\\udc80") survives, as it would from a provider."""
    key = tokens.keys[0]
    header = {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}
    return sign_raw(header, tokens.claims(lifetime_s=TOKEN_LIFETIME_S, **claims), key)


@pytest.mark.parametrize(
    ("claims", "stored"),
    [
        ({"name": "a\u0000b", "email": "x\u0000@y.test"}, ("ab", "x@y.test")),
        ({"name": "evil\r\nlog", "email": "\ud800e@y.test"}, ("evillog", "e@y.test")),
    ],
)
async def test_profile_claims_lose_unstorable_characters(
    client: httpx.AsyncClient,
    tokens: TokenFactory,
    claims: dict[str, str],
    stored: tuple[str, str],
) -> None:
    token = _mint(tokens, sub="claimant", **claims)
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert (user["name"], user["email"]) == stored


@pytest.mark.parametrize("subject", ["a\u0000b", "a\nb", "\u007f", "\udc80"])
async def test_subject_with_control_characters_is_invalid_token(
    client: httpx.AsyncClient, tokens: TokenFactory, subject: str
) -> None:
    token = _mint(tokens, sub=subject)
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
