"""Provider edge cases at the token endpoint, with respx (unit level) and via the callback."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from bff.errors import OAuthFailure, ProviderUnavailable
from bff.oidc import Provider
from bff.settings import Settings
from shared import JWKSCache, MetadataCache, TokenVerifier
from tests.bff.conftest import NO_RETRY, Harness, make_settings
from tests.bff.fakes import ISSUER, FakeProvider
from tests.support.clock import FakeClock

TOKEN_URL = f"{ISSUER}/token"


@pytest.fixture
async def provider(tmp_path: Path, respx_mock: respx.MockRouter) -> AsyncIterator[Provider]:
    clock = FakeClock()
    fake = FakeProvider(clock)
    respx_mock.get(f"{ISSUER}/.well-known/openid-configuration").respond(json=fake.metadata())
    settings: Settings = make_settings(tmp_path)
    async with httpx.AsyncClient() as client:
        metadata = MetadataCache(ISSUER, client, clock=clock, retry=NO_RETRY)
        verifier = TokenVerifier(JWKSCache(client, fake.metadata()["jwks_uri"]), issuer=ISSUER)
        yield Provider(settings, client, metadata, verifier, clock)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json={"error": "invalid_grant"}), "invalid_grant"),
        (httpx.Response(401, json={"error": "invalid_client"}), "invalid_client"),
        (httpx.Response(400, text="<html>nope</html>"), "invalid_response"),
        (httpx.Response(200, text="{not json"), "invalid_response"),
        (httpx.Response(200, json=["a list"]), "invalid_response"),
        (httpx.Response(200, json={"token_type": "Bearer"}), "invalid_response"),
        (httpx.Response(200, json={"access_token": "x", "token_type": "mac"}), "invalid_response"),
        (httpx.Response(200, content=b"{" + b" " * 70_000 + b"}"), "invalid_response"),
    ],
)
async def test_token_endpoint_errors(
    provider: Provider, respx_mock: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=response)
    with pytest.raises(OAuthFailure) as info:
        await provider.refresh("rt")
    assert info.value.error == error
    assert not isinstance(info.value, ProviderUnavailable)


@pytest.mark.parametrize(
    ("side_effect", "timeout"),
    [
        (httpx.ReadTimeout("slow"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.ConnectError("refused"), False),
        (httpx.Response(503), False),
    ],
)
async def test_token_endpoint_unavailable(
    provider: Provider,
    respx_mock: respx.MockRouter,
    side_effect: Exception | httpx.Response,
    timeout: bool,
) -> None:
    route = respx_mock.post(TOKEN_URL)
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    with pytest.raises(ProviderUnavailable) as info:
        await provider.refresh("rt")
    assert info.value.timeout is timeout


async def test_expires_in_missing_uses_jwt_exp(
    provider: Provider, respx_mock: respx.MockRouter
) -> None:
    access = "e30.eyJleHAiOjE4MDAwMDAxMjN9.sig"  # {"exp": 1800000123}, unverified peek
    respx_mock.post(TOKEN_URL).respond(json={"access_token": access, "token_type": "bearer"})
    tokens = await provider.refresh("rt")
    assert tokens.expires_at == 1800000123
    assert tokens.refresh_token is None


async def test_refresh_request_shape(provider: Provider, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(TOKEN_URL).respond(
        json={"access_token": "a", "token_type": "Bearer", "expires_in": "120"}
    )
    tokens = await provider.refresh("old-rt")
    request = route.calls.last.request
    assert request.headers["authorization"].startswith("Basic ")
    assert b"grant_type=refresh_token" in request.content
    assert b"refresh_token=old-rt" in request.content
    assert tokens.expires_at == FakeClock().now + 120


@pytest.mark.parametrize(
    "body",
    [
        httpx.Response(500),
        httpx.Response(200, text="garbage"),
        httpx.Response(400, json={"error": "invalid_grant"}),
    ],
)
async def test_callback_never_500(harness: Harness, body: httpx.Response) -> None:
    from starlette.responses import Response

    harness.provider.token_response_override = Response(body.content, status_code=body.status_code)
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    assert response.status_code == 400
    assert not harness.session_cookies()


async def test_login_with_provider_down_is_503_page(tmp_path: Path) -> None:
    from tests.bff.conftest import build_harness

    harness = build_harness(tmp_path)
    harness.provider.app.router.routes.clear()  # discovery answers 404
    async with harness.client, harness.outbound:
        response = await harness.client.get("/auth/login")
        assert response.status_code == 503
        assert "provider_unavailable" in response.text
        assert (await harness.client.get("/readyz")).status_code == 503


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(429, text="<html>Too Many Requests</html>"),
        httpx.Response(408),
        httpx.Response(400, json={"error": "temporarily_unavailable"}),
    ],
)
async def test_token_endpoint_not_now_is_unavailable(
    provider: Provider, respx_mock: respx.MockRouter, response: httpx.Response
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=response)
    with pytest.raises(ProviderUnavailable):
        await provider.refresh("rt")


async def test_token_request_without_metadata_is_unavailable(
    provider: Provider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{ISSUER}/.well-known/openid-configuration").respond(503)
    with pytest.raises(ProviderUnavailable):
        await provider.refresh("rt")
    await provider.revoke("rt")  # logged, never raised
