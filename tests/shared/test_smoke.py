import httpx
import pytest

from shared import InvalidToken, JWKSCache, TokenProfile, TokenVerifier
from tests.support.tokens import AUDIENCE, TokenFactory

PROFILE = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "JWT"))


async def test_good_token_accepted_and_expired_rejected() -> None:
    factory = TokenFactory()
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=factory.jwks()))
    )
    verifier = TokenVerifier(JWKSCache(client, "https://idp.test/jwks"), issuer=factory.issuer)
    verified = await verifier.verify(factory.mint(), PROFILE)
    assert verified.claims["sub"] == "user-1"
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(factory.mint(exp=1), PROFILE)
    assert caught.value.error == "invalid_token"
