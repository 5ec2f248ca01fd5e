"""Happy paths through the real app: login, me, proxy, logout."""

from urllib.parse import parse_qsl, urlsplit

from tests.bff.conftest import Harness
from tests.bff.fakes import CLIENT_ID, ISSUER


async def test_login_redirects_with_pkce_state_nonce(harness: Harness) -> None:
    response = await harness.client.get("/auth/login", params={"returnTo": "/x", "prompt": "login"})
    assert response.status_code == 302
    url = urlsplit(response.headers["location"])
    query = dict(parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "https://app.test/auth/callback"
    assert query["prompt"] == "login"
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-Http-bff-login.")
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Max-Age=600" in cookie


async def test_full_login_me_proxy_logout(harness: Harness) -> None:
    response = await harness.login("/products?x=1")
    assert response.headers["location"] == "/products?x=1"
    lines = response.headers.get_list("set-cookie")
    session_line = next(line for line in lines if line.startswith("__Host-Http-bff-session="))
    for flag in ("HttpOnly", "Secure", "Path=/", "SameSite=Strict"):
        assert flag in session_line
    assert "Domain" not in session_line
    assert any(line.startswith("__Host-Http-bff-login.") and "Max-Age=0" in line for line in lines)

    me = await harness.client.get("/auth/me")
    assert me.status_code == 200
    body = me.json()
    assert body["sub"] == "user-1"
    assert body["name"] == "Alice Example"
    assert body["groups"] == ["admin"]
    assert "expires_at" in body["session"]
    assert "token" not in me.text
    assert "at-" not in me.text

    api = await harness.api("/api/products", params={"limit": "5"})
    assert api.status_code == 200, api.text
    assert api.json() == {"ok": True, "path": "/products"}
    record = harness.upstream.received[-1]
    assert record["query"] == "limit=5"
    headers = harness.upstream.headers_of()
    assert headers["authorization"][0].startswith("Bearer at-")
    assert headers["x-forwarded-for"] == ["203.0.113.7"]
    assert headers["x-forwarded-proto"] == ["https"]
    assert headers["x-forwarded-host"] == ["app.test"]
    assert len(headers["x-request-id"][0]) >= 8
    assert "set-cookie" not in api.headers
    assert api.headers["x-upstream"] == "yes"

    logout = await harness.api("/auth/logout", method="POST")
    assert logout.status_code == 200
    url = logout.json()["logout_url"]
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{ISSUER}/session/end?")
    assert query["post_logout_redirect_uri"] == "https://app.test/"
    assert query["id_token_hint"].count(".") == 2
    assert harness.provider.revocations[0]["token_type_hint"] == "refresh_token"
    assert (await harness.client.get("/auth/me")).status_code == 401


async def test_client_secret_basic_used(harness: Harness) -> None:
    await harness.login()
    assert harness.provider.token_requests[0]["auth"].startswith("Basic ")
    assert "client_secret" not in harness.provider.token_requests[0]["form"]


async def test_unauthenticated_api_gets_login_url(harness: Harness) -> None:
    response = await harness.client.get("/api/products", headers={"X-CSRF": "1"})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated", "login_url": "/auth/login"}


async def test_spa_fallback_and_health(harness: Harness) -> None:
    assert (await harness.client.get("/healthz")).json() == {"status": "ok"}
    deep = await harness.client.get("/some/client/route")
    assert deep.status_code == 200
    assert "spa" in deep.text
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 200, ready.text
