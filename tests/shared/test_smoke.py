import httpx

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
    try:
        await verifier.verify(factory.mint(exp=1), PROFILE)
    except InvalidToken as exc:
        assert exc.error == "invalid_token"
    else:
        raise AssertionError("expired token accepted")
