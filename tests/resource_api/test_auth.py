"""Bearer authentication at the API: RFC 6750 answers, service principals, admins."""

import time

import httpx
import pytest

from tests.resource_api.conftest import (
    SERVICE_CLIENT,
    TOKEN_LIFETIME_S,
    bearer,
    make_settings,
    serve_app,
    user_headers,
)
from tests.resource_api.world import World
from tests.support.tokens import TokenFactory


def _challenge(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    return challenge


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "https://someone-else.test"},
        {"iss": "https://evil.test"},
        {"nbf": int(time.time()) + 3600},
        {"sub": None},  # RFC 9068 §2.2: required
        {"sub": ""},  # was a user with an empty subject, shared by every such token
        {"at_hash": "abc"},  # an ID token is never an access token
    ],
)
async def test_invalid_tokens(
    client: httpx.AsyncClient, tokens: TokenFactory, claims: dict[str, object]
) -> None:
    token = tokens.mint({"sub": "alice", **claims})
    _challenge(await client.get("/products", headers=bearer(token)))


@pytest.mark.parametrize(
    "authorization", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer   ", "bearer a b", "Bearer a,b"]
)
async def test_malformed_authorization(client: httpx.AsyncClient, authorization: str) -> None:
    response = await client.get("/products", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_openapi_documents_bearer(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["security"] == [{"bearer": []}]
    assert schema["paths"]["/health"]["get"]["security"] == [{}]
    patch = schema["paths"]["/inventory/{inventory_id}"]["patch"]["responses"]
    assert patch["412"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


async def test_service_principal_with_sub_equal_to_client_id(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World
) -> None:
    token = tokens.mint(sub=SERVICE_CLIENT, client_id=SERVICE_CLIENT, scope="inventory:read")
    listing = await client.get("/products", headers=bearer(token))
    assert listing.status_code == 200
    assert len(listing.json()["items"]) == 2  # across all users
    assert (await client.get("/me", headers=bearer(token))).status_code == 403


async def test_service_client_user_token_is_refused(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World
) -> None:
    """A user's token from a listed service client is neither a service principal nor a
    user (SPEC: a token from such a client is a service principal; listed clients must be
    client-credentials-only). It used to be served as a user."""
    token = tokens.mint(sub="erin", azp=SERVICE_CLIENT, lifetime_s=TOKEN_LIFETIME_S)
    for path in ("/me", "/products"):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
    users = await client.get("/admin/users", headers=world.headers["admin"])
    assert "erin" not in {u["subject"] for u in users.json()["items"]}  # no user row


async def test_bootstrap_admin(database_url: str, tokens: TokenFactory, world: World) -> None:
    settings = make_settings(database_url, bootstrap_admin=f"{tokens.issuer} dave")
    async with serve_app(settings, tokens) as api:
        users = await api.get("/admin/users", headers=user_headers(tokens, "dave"))
        assert users.status_code == 200
        me = await api.get("/me", headers=user_headers(tokens, "dave"))
        assert me.json()["user"]["role"] == "admin"
        other = await api.get("/admin/users", headers=user_headers(tokens, "alice"))
        assert other.status_code == 403


async def test_admin_groups_setting(database_url: str, tokens: TokenFactory, world: World) -> None:
    settings = make_settings(database_url, admin_groups="ops,root")
    async with serve_app(settings, tokens) as api:
        ops = user_headers(tokens, "carol", groups=("ops",))
        assert (await api.get("/admin/users", headers=ops)).status_code == 200
        plain_admin = user_headers(tokens, "root", groups=("admin",))
        assert (await api.get("/admin/users", headers=plain_admin)).status_code == 403


async def test_provider_down_is_503(database_url: str, tokens: TokenFactory) -> None:
    settings = make_settings(database_url)
    down = httpx.MockTransport(lambda _: httpx.Response(503))
    async with httpx.AsyncClient(transport=down) as http_client:
        from resource_api.app import create_app

        app = create_app(settings, http_client=http_client)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as api:
            response = await api.get("/products", headers=user_headers(tokens, "alice"))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()


async def test_keycloak_service_account_is_a_service(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World
) -> None:
    token = tokens.mint(
        sub="7f1c2d9e-service-account-user",
        azp=SERVICE_CLIENT,
        preferred_username=f"service-account-{SERVICE_CLIENT}",
        scope="inventory:read",
    )
    assert len((await client.get("/products", headers=bearer(token))).json()["items"]) == 2
    assert (
        await client.post("/products", json={"name": "x"}, headers=bearer(token))
    ).status_code == 403


async def test_unlisted_client_token_is_refused(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    token = tokens.mint(sub="other-client", client_id="other-client", scope="inventory:read")
    response = await client.get("/products", headers=bearer(token))
    assert response.status_code == 403
    assert "not a service client" in response.json()["error_description"]


@pytest.mark.parametrize(
    "claims",
    [
        # a listed client's token without `sub`: was served as a service principal
        {"sub": None, "client_id": SERVICE_CLIENT},
        {"sub": None, "azp": SERVICE_CLIENT},
        # an unlisted client's: was 403 "not a service client"
        {"sub": None, "client_id": "other-client"},
        # a user's token through the BFF, without `sub`
        {"sub": None, "client_id": "spa-bff"},
    ],
)
async def test_token_without_sub_is_invalid_token(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World, claims: dict[str, object]
) -> None:
    """SPEC: a token without `sub` is invalid (RFC 9068 §2.2: client-credentials tokens
    carry the client's own `sub`), whoever issued it and whatever it may do."""
    token = bearer(tokens.mint({"scope": "inventory:read", **claims}))
    for path in ("/products", "/me"):
        challenge = _challenge(await client.get(path, headers=token))
        assert "(sub)" in challenge


async def test_overlong_subject_is_refused(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    _challenge(await client.get("/me", headers=bearer(tokens.mint(sub="s" * 256))))


@pytest.mark.parametrize("second", ["Bearer garbage", "Basic YWxpY2U6cHc=", "", "same"])
async def test_several_authorization_headers_are_400(
    client: httpx.AsyncClient, world: World, second: str
) -> None:
    """RFC 6750 §2: one token, one method. Before: the first header won, whatever followed."""
    good = world.headers["owner"]["Authorization"]
    second = good if second == "same" else second
    for headers in (
        [("Authorization", good), ("Authorization", second)],
        [("Authorization", second), ("Authorization", good)],
    ):
        response = await client.get("/me", headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_request"')


KEYCLOAK_SERVICE_ACCOUNT = {
    "sub": "7f1c2d9e-0000-4000-8000-00000000abcd",
    "azp": SERVICE_CLIENT,
    "preferred_username": f"service-account-{SERVICE_CLIENT}",
    "scope": "openid inventory:read",
}


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": SERVICE_CLIENT, "client_id": SERVICE_CLIENT},
        {"sub": SERVICE_CLIENT, "azp": SERVICE_CLIENT},  # the reviewer's sub == azp case
        KEYCLOAK_SERVICE_ACCOUNT,
        # the reviewer's forged username, no session: only a client-credentials-only
        # client (README) makes this the client itself
        {**KEYCLOAK_SERVICE_ACCOUNT, "azp": None, "client_id": SERVICE_CLIENT},
    ],
)
async def test_listed_client_acting_for_itself_is_a_service(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World, claims: dict[str, object]
) -> None:
    token = bearer(tokens.mint({"scope": "inventory:read", **claims}))
    listing = await client.get("/products", headers=token)
    assert listing.status_code == 200, listing.text
    assert len(listing.json()["items"]) == 2  # across all users: a service principal
    assert (await client.get("/me", headers=token)).status_code == 403


@pytest.mark.parametrize(
    "session",
    [
        {"sid": "7c1d"},
        {"session_state": "5e0b"},
        {"auth_time": int(time.time()) - 60},
        {"nonce": "n-0S6_WzA2Mj"},
    ],
)
async def test_service_account_username_with_a_login_session_is_refused(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World, session: dict[str, object]
) -> None:
    """A user who named themselves `service-account-<client>` and signed in through the
    client: the login session gives them away. 403, never a service, never a user."""
    token = bearer(tokens.mint({**KEYCLOAK_SERVICE_ACCOUNT, **session}))
    for path in ("/products", "/me"):
        response = await client.get(path, headers=token)
        assert response.status_code == 403, response.text


async def test_unlisted_client_service_account_forms(
    client: httpx.AsyncClient, tokens: TokenFactory, world: World
) -> None:
    account = {
        **KEYCLOAK_SERVICE_ACCOUNT,
        "azp": "other-client",
        "preferred_username": "service-account-other-client",
    }
    refused = await client.get("/me", headers=bearer(tokens.mint(account)))
    assert refused.status_code == 403
    assert "not a service client" in refused.json()["error_description"]
    # the same username with a login session is just a user who chose that name
    user = await client.get("/me", headers=bearer(tokens.mint({**account, "sid": "abc"})))
    assert user.status_code == 200, user.text
    assert user.json()["user"]["role"] == "member"
