"""The whole stack against a real Keycloak 26 (`tests/e2e/keycloak.py`): the realm preset
`infra/keycloak/realm-inventory.json` as committed, the BFF and the resource API with the
settings of `infra/keycloak/README.md`. Every claim in that README's "Measured" table is one
of these tests.

One Keycloak for the module (it takes about half a minute to start). Tests that need a user
of their own create one through the admin REST API; `alice` and `admin` are the preset's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.keycloak import dist
from tests.e2e.keycloak import (
    API_AUDIENCE,
    BFF_SCOPES,
    KeycloakAdmin,
    KeycloakBrowser,
    KeycloakStack,
    claims,
    keycloak_tokens,
    running_keycloak_stack,
)
from tests.e2e.stack import ARTIFACTS, BFF_CLIENT_ID, SERVICE_CLIENT_ID

SHOTS = ARTIFACTS / "screenshots"
#: claims that only a token from an end user's login session carries (resource_api/auth.py)
SESSION_CLAIMS = ("sid", "session_state", "auth_time", "nonce")


@pytest.fixture(scope="module")
def keycloak() -> Iterator[KeycloakStack]:
    try:
        dist.java_home()
        dist.distribution()
    except dist.DistError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Keycloak cannot run here: {exc}")
        pytest.skip(f"Keycloak cannot run here: {exc}")
    with running_keycloak_stack() as running:
        yield running


@pytest.fixture
def admin(keycloak: KeycloakStack) -> KeycloakAdmin:
    assert keycloak.admin is not None
    return keycloak.admin


@pytest.fixture
def browser(keycloak: KeycloakStack) -> Iterator[KeycloakBrowser]:
    with KeycloakBrowser(keycloak.bff_url) as b:
        yield b


@pytest.fixture
def user_name(keycloak: KeycloakStack, admin: KeycloakAdmin) -> str:
    """A Keycloak user of this test's own (so data never collides), password `keycloak.password`."""
    name = f"u{secrets.token_hex(4)}"
    created = admin.request(
        "POST",
        "/users",
        json={
            "username": name,
            "enabled": True,
            "email": f"{name}@example.test",
            "emailVerified": True,
            "firstName": "Test",
            "lastName": name,
            "credentials": [{"type": "password", "value": keycloak.password, "temporary": False}],
        },
    )
    assert created.status_code == 201, created.text
    return name


def _count(admin: KeycloakAdmin, event_type: str, user_id: str) -> int:
    return len(admin.events(event_type, user_id))


# ------------------------------------------------------------------------- login and /auth/me


def test_login_through_keycloaks_page_then_me(
    keycloak: KeycloakStack, browser: KeycloakBrowser, admin: KeycloakAdmin
) -> None:
    landing = browser.login("alice", password=keycloak.password)
    assert landing.status_code == 200, browser.pages
    assert str(landing.url) == f"{keycloak.bff_url}/"
    assert any(page.startswith(f"{keycloak.oidc}/auth") for page in browser.pages)

    me = browser.me()
    assert me.status_code == 200
    body = me.json()
    assert body["sub"] == admin.user("alice")["id"]  # Keycloak's user id, not the username
    assert body["name"] == "Alice Liddell"
    assert body["email"] == "alice@example.test"
    assert body["groups"] == []
    assert "token" not in me.text.lower()
    assert browser.api_json("GET", "/me")["user"]["role"] == "member"


def test_the_admin_group_is_in_groups_and_makes_an_api_admin(
    keycloak: KeycloakStack, browser: KeycloakBrowser
) -> None:
    browser.login("admin", password=keycloak.password)
    assert browser.me().json()["groups"] == ["admin"]
    assert browser.api_json("GET", "/me")["user"]["role"] == "admin"
    assert browser.api("GET", "/admin/users").status_code == 200


def test_a_wrong_password_stays_on_keycloaks_page(
    keycloak: KeycloakStack, browser: KeycloakBrowser
) -> None:
    page = browser.navigate(f"{keycloak.bff_url}/auth/login?returnTo=/")
    again = browser.submit_login(page, "alice", "not the password")
    assert again.status_code == 200
    assert str(again.url).startswith(keycloak.issuer)
    assert "Invalid username or password" in again.text
    assert browser.me().status_code == 401


# ------------------------------------------------------------------ API calls, refresh, rotation


def test_crud_through_the_bff_refreshes_before_every_call(
    keycloak: KeycloakStack, browser: KeycloakBrowser, admin: KeycloakAdmin, user_name: str
) -> None:
    browser.login(user_name, password=keycloak.password)
    user_id = admin.user(user_name)["id"]
    assert _count(admin, "REFRESH_TOKEN", user_id) == 0

    pid = browser.api_json("POST", "/products", 201, json={"name": "Oat milk"})["id"]
    assert [p["id"] for p in browser.api_json("GET", "/products")["items"]] == [pid]
    patched = browser.api_json("PATCH", f"/products/{pid}", json={"category": "Drinks"})
    assert patched["category"] == "Drinks"
    row = browser.api("POST", f"/products/{pid}/inventory", json={"quantity": 2, "unit": "l"})
    assert row.status_code == 201, row.text
    rid, etag = row.json()["id"], row.headers["etag"]
    browser.api_json("PATCH", f"/inventory/{rid}", json={"quantity": 1}, headers={"If-Match": etag})
    stale = browser.api(
        "PATCH", f"/inventory/{rid}", json={"quantity": 0}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert browser.api("DELETE", f"/inventory/{rid}").status_code == 204
    assert browser.api("DELETE", f"/products/{pid}").status_code == 204
    assert browser.api("GET", f"/products/{pid}").status_code == 404

    # BFF_REFRESH_MARGIN_S is above the access-token lifespan: each of the 9 proxied calls
    # refreshed first, each with the refresh token the previous one got (rotation), and
    # Keycloak, which refuses a reused refresh token, saw no reuse.
    assert _count(admin, "REFRESH_TOKEN", user_id) == 9
    assert _count(admin, "REFRESH_TOKEN_ERROR", user_id) == 0
    assert browser.me().status_code == 200


def test_a_replayed_refresh_token_is_refused_and_ends_the_grant(
    keycloak: KeycloakStack, admin: KeycloakAdmin, user_name: str
) -> None:
    first = keycloak_tokens(keycloak, user_name)
    assert claims(first["refresh_token"])[1]["typ"] == "Refresh"
    rotated = keycloak.refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]

    # revokeRefreshToken + refreshTokenMaxReuse 0: the old one is refused ...
    replay = keycloak.refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "reuse" in replay.json()["error_description"]
    # ... and the replay ended the client's session: the newest one is refused as well
    after = keycloak.refresh(second["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
    errors = admin.events("REFRESH_TOKEN_ERROR", admin.user(user_name)["id"])
    assert [e["details"]["reason"] for e in reversed(errors)] == [
        "Maximum allowed refresh token reuse exceeded",
        "Session doesn't have required client",
    ]


# ---------------------------------------------------------------------------------- logout


def test_rp_initiated_logout(
    keycloak: KeycloakStack, browser: KeycloakBrowser, admin: KeycloakAdmin, user_name: str
) -> None:
    browser.login(user_name, password=keycloak.password)
    user_id = admin.user(user_name)["id"]
    (session,) = admin.sessions(user_id)
    assert list(session["clients"].values()) == [BFF_CLIENT_ID]

    out = browser.logout()
    assert out.status_code == 200, out.text
    logout_url = out.json()["logout_url"]
    assert logout_url.startswith(f"{keycloak.oidc}/logout?")
    query = parse_qs(urlsplit(logout_url).query)
    assert claims(query["id_token_hint"][0])[1]["typ"] == "ID"
    assert query["post_logout_redirect_uri"] == [f"{keycloak.bff_url}/"]
    assert query["client_id"] == [BFF_CLIENT_ID]

    # The BFF session is over at once, and its RFC 7009 revocation of the refresh token
    # ended the Keycloak session too (the BFF was its only client).
    assert browser.me().status_code == 401
    assert browser.api("GET", "/products").status_code == 401
    assert _count(admin, "REVOKE_GRANT", user_id) == 1
    assert admin.sessions(user_id) == []

    # With the id_token_hint Keycloak asks nothing and sends the browser back.
    back = browser.navigate(logout_url)
    assert str(back.url) == f"{keycloak.bff_url}/", browser.pages
    page = browser.navigate(f"{keycloak.bff_url}/auth/login?returnTo=/")
    assert str(page.url).startswith(keycloak.issuer)
    assert 'id="kc-form-login"' in page.text


@pytest.mark.parametrize("where", ["keycloak logout page", "admin REST API"])
def test_backchannel_logout_ends_the_bff_session(
    keycloak: KeycloakStack,
    browser: KeycloakBrowser,
    admin: KeycloakAdmin,
    user_name: str,
    where: str,
) -> None:
    browser.login(user_name, password=keycloak.password)
    assert browser.api("GET", "/products").status_code == 200
    user_id = admin.user(user_name)["id"]
    bff_log = keycloak.log_dir / "bff.log"
    delivered = bff_log.read_text().count("backchannel_logout kind=sid")

    # The session ends at Keycloak only: the browser keeps its BFF cookie. Keycloak posts a
    # logout token to the BFF's back-channel URL before it answers.
    if where == "keycloak logout page":
        browser.sign_out_at_keycloak(keycloak.oidc)
    else:
        response = admin.request("POST", f"/users/{user_id}/logout")
        assert response.status_code == 204, response.text
    assert admin.sessions(user_id) == []

    assert browser.me().status_code == 401
    assert browser.api("GET", "/products").status_code == 401
    # one logout token, naming the session (sid) the BFF's ID token had
    assert bff_log.read_text().count("backchannel_logout kind=sid") == delivered + 1


def test_offline_access_outlives_the_users_keycloak_logout(
    keycloak: KeycloakStack, browser: KeycloakBrowser, admin: KeycloakAdmin, user_name: str
) -> None:
    """Why BFF_SCOPES leaves `offline_access` out for Keycloak."""
    scope = f"{BFF_SCOPES} offline_access"
    bff_log = keycloak.log_dir / "bff.log"
    delivered = bff_log.read_text().count("backchannel_logout kind=")
    tokens = keycloak_tokens(keycloak, user_name, scope=scope, browser=browser)
    assert claims(tokens["refresh_token"])[1]["typ"] == "Offline"
    user_id = admin.user(user_name)["id"]
    # Keycloak >= 26.1 keeps only the offline session of such a login: nothing to sign out of
    assert admin.sessions(user_id) == []

    # The user signs out on Keycloak's own page: no logout token reaches the BFF and the
    # offline token keeps refreshing.
    browser.sign_out_at_keycloak(keycloak.oidc)
    assert bff_log.read_text().count("backchannel_logout kind=") == delivered
    still = keycloak.refresh(tokens["refresh_token"])
    assert still.status_code == 200, still.text

    # RFC 7009 revocation (what the BFF's own logout does) ends it.
    newest = still.json()["refresh_token"]
    revoked = httpx.post(
        f"{keycloak.oidc}/revoke",
        auth=(BFF_CLIENT_ID, keycloak.bff_client_secret),
        data={"token": newest, "token_type_hint": "refresh_token"},
        timeout=10,
    )
    assert revoked.status_code == 200
    gone = keycloak.refresh(newest)
    assert gone.status_code == 400
    assert gone.json()["error"] == "invalid_grant"


def test_an_admins_sign_out_makes_older_offline_tokens_stale(
    keycloak: KeycloakStack, admin: KeycloakAdmin, user_name: str
) -> None:
    """The admin API's "sign out" of a user sets the user's not-before time to now (whole
    seconds): every token issued in an earlier second, offline ones too, is then refused."""
    tokens = keycloak_tokens(keycloak, user_name, scope=f"{BFF_SCOPES} offline_access")
    issued_at = claims(tokens["refresh_token"])[1]["iat"]
    # not-before compares whole seconds (iat < notBefore): let the clock pass iat's second
    deadline = time.monotonic() + 5
    while int(time.time()) <= issued_at and time.monotonic() < deadline:
        time.sleep(0.05)
    user_id = admin.user(user_name)["id"]
    assert admin.request("POST", f"/users/{user_id}/logout").status_code == 204

    stale = keycloak.refresh(tokens["refresh_token"])
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant", "error_description": "Stale token"}


# ------------------------------------------------------------------------ tokens at the API


def test_client_credentials_token_is_a_read_only_service_principal(
    keycloak: KeycloakStack, browser: KeycloakBrowser, user_name: str
) -> None:
    browser.login(user_name, password=keycloak.password)
    pid = browser.api_json("POST", "/products", 201, json={"name": f"for {user_name}"})["id"]
    browser.api_json("POST", f"/products/{pid}/inventory", 201, json={"quantity": 3})

    response = keycloak.service_token_response()
    assert "refresh_token" not in response  # client_credentials.use_refresh_token false
    token = response["access_token"]
    header, payload = claims(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert payload["aud"] == API_AUDIENCE
    assert payload["azp"] == payload["client_id"] == SERVICE_CLIENT_ID
    # the preset fix: `profile` puts the service-account username in the token, which is
    # how the API tells the client's own token from a user's (resource_api/auth.py)
    assert payload["preferred_username"] == f"service-account-{SERVICE_CLIENT_ID}"
    assert "inventory:read" in payload["scope"].split()
    assert not [name for name in SESSION_CLAIMS if name in payload]

    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=keycloak.api_url, headers=bearer, timeout=10) as api:
        seen: set[str] = set()
        page: dict[str, Any] = {"next": None}
        while True:
            params = {"limit": 200, **({"cursor": page["next"]} if page["next"] else {})}
            answer = api.get("/products", params=params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            seen.update(p["id"] for p in page["items"])
            if not page["next"]:
                break
        assert pid in seen  # across all users
        assert api.get(f"/products/{pid}/inventory").status_code == 200
        assert api.post("/products", json={"name": "nope"}).status_code == 403
        assert api.delete(f"/products/{pid}").status_code == 403
        assert api.get("/me").status_code == 403


def test_a_token_whose_aud_is_only_account_is_refused(
    keycloak: KeycloakStack, admin: KeycloakAdmin
) -> None:
    """The usual mistake: a client without the audience mapper. Keycloak's own "audience
    resolve" mapper (the built-in `roles` scope) then sets `aud` to `account` alone."""
    secret = secrets.token_urlsafe(32)
    created = admin.request(
        "POST",
        "/clients",
        json={
            "clientId": "forgot-the-audience",
            "secret": secret,
            "publicClient": False,
            "standardFlowEnabled": False,
            "serviceAccountsEnabled": True,
            "defaultClientScopes": ["basic", "profile"],
            "protocolMappers": [
                {
                    "name": "audience resolve",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-resolve-mapper",
                    "config": {"access.token.claim": "true"},
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    try:
        response = httpx.post(
            f"{keycloak.oidc}/token",
            auth=("forgot-the-audience", secret),
            data={"grant_type": "client_credentials"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert claims(token)[1]["aud"] == "account"

        refused = httpx.get(
            f"{keycloak.api_url}/products", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge
        assert "aud" in challenge
    finally:
        client_uuid = created.headers["location"].rsplit("/", 1)[1]
        admin.request("DELETE", f"/clients/{client_uuid}")


def test_user_tokens_and_the_id_token_at_the_api(keycloak: KeycloakStack, user_name: str) -> None:
    tokens = keycloak_tokens(keycloak, user_name)
    access_header, access = claims(tokens["access_token"])
    id_header, id_claims = claims(tokens["id_token"])
    assert access_header["typ"] == id_header["typ"] == "JWT"
    assert (access["typ"], id_claims["typ"]) == ("Bearer", "ID")
    assert access["aud"] == API_AUDIENCE
    assert access["azp"] == id_claims["aud"] == id_claims["azp"] == BFF_CLIENT_ID
    assert access["sid"] == id_claims["sid"]
    # no groups: Keycloak leaves the claim out rather than sending []
    assert "groups" not in access
    assert "groups" not in id_claims
    assert "realm_access" not in access  # the preset has no `roles` scope

    with httpx.Client(base_url=keycloak.api_url, timeout=10) as api:
        me = api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["user"]["subject"] == access["sub"]
        refused = api.get("/me", headers={"Authorization": f"Bearer {tokens['id_token']}"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_resource_indicators_are_ignored(keycloak: KeycloakStack, user_name: str) -> None:
    """RFC 8707 is not in Keycloak 26.4: `resource` is neither honoured nor refused."""
    other = "urn:example:another-api"
    tokens = keycloak_tokens(keycloak, user_name, resource=other)
    assert claims(tokens["access_token"])[1]["aud"] == API_AUDIENCE
    refreshed = keycloak.refresh(tokens["refresh_token"], resource=other)
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])[1]["aud"] == API_AUDIENCE


# ----------------------------------------------------------------------------------- browser


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return os.environ.get("CHROMIUM") or found


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = chromium.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page
        finally:
            page.screenshot(path=str(SHOTS / f"{request.node.name}-last.png"), full_page=True)
            context.close()
            chromium.close()
        assert not errors, errors


def _shot(page: Any, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.browser
def test_browser_signs_in_through_keycloak_and_out_again(
    keycloak: KeycloakStack, page: Any
) -> None:
    page.goto(keycloak.bff_url + "/")
    page.wait_for_selector("[data-testid=signed-out]:not([hidden])")
    page.click("[data-testid=sign-in]")

    page.wait_for_selector("#kc-form-login")
    assert page.url.startswith(keycloak.issuer)
    page.fill("#username", "alice")
    page.fill("#password", keycloak.password)
    _shot(page, "keycloak-01-login")
    page.click("#kc-login")

    page.wait_for_selector("[data-testid=app]:not([hidden])")
    assert page.url.startswith(keycloak.bff_url)
    assert page.text_content("[data-testid=user-name]") == "Alice Liddell"
    assert page.text_content("[data-testid=user-email]") == "alice@example.test"
    page.fill("[data-testid=product-name]", "Rye bread")
    page.click("[data-testid=add-product]")
    page.wait_for_selector("[data-testid=product] >> text=Rye bread")
    _shot(page, "keycloak-02-signed-in")

    # RP-initiated logout: with the id_token_hint Keycloak asks nothing and sends the
    # browser straight back to the SPA.
    page.click("[data-testid=sign-out]")
    page.wait_for_url(keycloak.bff_url + "/**")
    page.wait_for_selector("[data-testid=signed-out]:not([hidden])")
    _shot(page, "keycloak-03-signed-out")
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("#kc-form-login")  # the Keycloak session is over too
