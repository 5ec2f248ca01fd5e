"""The second provider, run for real: django-oauth-toolkit with opaque access tokens and
RFC 7662 introspection (`infra/django-oauth-toolkit`, stack in `opaque.py`).

Three groups: the provider itself (what DOT really sends, recorded here), the BFF against
it, and the resource API introspecting its tokens. The API group waits for the API to
introspect (`shared.introspection`); until then it is skipped.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.browser import Browser, code_flow_tokens
from tests.e2e.opaque import (
    ACCESS_TOKEN_TTL_S,
    BFF_SCOPES,
    INTROSPECTION_CACHE_S,
    INTROSPECTION_CLIENT_ID,
    JWT_AUDIENCE,
    OpaqueStack,
    SecondIssuer,
    bff_login,
    code_flow,
    running_opaque_stack,
    second_issuer,
)
from tests.e2e.stack import BFF_CLIENT_ID, SERVICE_CLIENT_ID

#: What DOT 3.4's own introspection endpoint answers for an active user token.
DOT_USER_ANSWER = {"active", "scope", "exp", "client_id", "username", "aud"}
#: What the development provider adds (RFC 7662 §2.2), because DOT leaves them out.
ADDED = {"sub", "iss", "iat", "token_type"}
ID_TOKEN_CLAIMS = {
    "iss", "aud", "sub", "exp", "iat", "auth_time", "jti", "nonce", "at_hash",
    "name", "preferred_username", "email", "email_verified", "groups",
}  # fmt: skip


@pytest.fixture(scope="module")
def opaque() -> Iterator[OpaqueStack]:
    with running_opaque_stack() as running:
        yield running


@pytest.fixture(scope="module")
def eager_bff(opaque: OpaqueStack) -> Iterator[str]:
    """A second BFF that refreshes before every proxied request."""
    opaque.stack.start(opaque.bff_spec(eager=True))
    yield opaque.eager_bff_url
    opaque.stack.stop("bff-eager")


@pytest.fixture(scope="module")
def two_issuers(opaque: OpaqueStack) -> Iterator[SecondIssuer]:
    with second_issuer(opaque) as two:
        yield two


def _b64json(part: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def _looks_like_jws(token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        return "alg" in _b64json(parts[0])
    except ValueError:
        return False


def _opaque_shape(token: str) -> bool:
    # oauthlib's random token: 30 characters of [A-Za-z0-9], no structure at all
    return len(token) == 30 and token.isascii() and token.isalnum()


def _id_claims(opaque: OpaqueStack, id_token: str) -> dict[str, Any]:
    """The ID token's claims after checking its signature against the provider's JWKS."""
    jwks = httpx.get(f"{opaque.issuer}/.well-known/jwks.json", timeout=5).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    return dict(decoded.claims)


def _deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}


# -- the provider ------------------------------------------------------------------------------


def test_discovery_publishes_the_issuer_and_every_endpoint(opaque: OpaqueStack) -> None:
    doc = httpx.get(f"{opaque.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == opaque.issuer  # exactly what BFF_ and API_OIDC_ISSUER say
    endpoints = {
        "authorization_endpoint": "authorize/",
        "token_endpoint": "token/",
        "userinfo_endpoint": "userinfo/",
        "jwks_uri": ".well-known/jwks.json",
        "end_session_endpoint": "logout/",
        "revocation_endpoint": "revoke_token/",
        "introspection_endpoint": "introspect/",
    }
    assert {k: doc.get(k) for k in endpoints} == {k: opaque.url(v) for k, v in endpoints.items()}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["authorization_response_iss_parameter_supported"] is True  # RFC 9207
    assert doc["token_endpoint_auth_methods_supported"][0] == "client_secret_basic"
    assert doc["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert "groups" in doc["scopes_supported"]
    # DOT 3.4 has no back-channel or front-channel logout and no session iframe.
    assert not [k for k in doc if k.startswith(("backchannel", "frontchannel", "check_session"))]

    # DOT's own RFC 8414 document (under the issuer's path) agrees.
    meta = httpx.get(f"{opaque.issuer}/.well-known/oauth-authorization-server", timeout=5)
    assert meta.status_code == 200
    assert meta.json()["issuer"] == opaque.issuer
    assert meta.json()["introspection_endpoint"] == opaque.url("introspect/")

    keys = httpx.get(doc["jwks_uri"], timeout=5).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert "d" not in keys[0]


def test_login_form_and_code_exchange_with_pkce(opaque: OpaqueStack) -> None:
    flow = code_flow(opaque, "alice")
    assert flow.callback["iss"] == opaque.issuer  # RFC 9207 on the authorization response
    tokens = flow.tokens
    assert set(tokens) == {
        "access_token", "expires_in", "token_type", "scope", "refresh_token", "id_token",
    }  # fmt: skip
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == ACCESS_TOKEN_TTL_S
    assert tokens["scope"] == BFF_SCOPES
    # Opaque: no JWS, no structure; the same shape for the refresh token.
    assert not _looks_like_jws(tokens["access_token"])
    assert _opaque_shape(tokens["access_token"])
    assert _opaque_shape(tokens["refresh_token"])

    header = _b64json(tokens["id_token"].split(".")[0])
    assert header["typ"] == "JWT"
    assert header["kid"]
    claims = _id_claims(opaque, tokens["id_token"])
    assert set(claims) == ID_TOKEN_CLAIMS  # no azp, no sid
    assert claims["iss"] == opaque.issuer
    assert claims["aud"] == BFF_CLIENT_ID
    assert claims["sub"].isdigit()  # DOT's subject is the user's primary key
    assert claims["preferred_username"] == "alice"
    assert (claims["name"], claims["email"], claims["groups"]) == (
        "Alice Liddell",
        "alice@example.test",
        [],
    )


def test_id_token_claims_follow_the_scopes(opaque: OpaqueStack) -> None:
    # Only `openid`: the minimal ID token (what stock DOT gives without extra claims).
    tokens = code_flow(opaque, "admin", scope="openid").tokens
    claims = _id_claims(opaque, tokens["id_token"])
    assert set(claims) == {
        "iss",
        "aud",
        "sub",
        "exp",
        "iat",
        "auth_time",
        "jti",
        "nonce",
        "at_hash",
    }
    assert opaque.introspect(tokens["access_token"])["scope"] == "openid"
    with_groups = _id_claims(
        opaque, code_flow(opaque, "admin", scope="openid groups").tokens["id_token"]
    )
    assert with_groups["groups"] == ["admin"]
    assert "name" not in with_groups


def test_code_exchange_needs_the_pkce_verifier(opaque: OpaqueStack) -> None:
    flow = code_flow(opaque, "alice", verifier="x" * 64)
    assert flow.token_response.status_code == 400
    assert flow.token_response.json()["error"] == "invalid_grant"


def test_introspection_of_a_user_token(opaque: OpaqueStack) -> None:
    tokens = code_flow(opaque, "alice").tokens
    subject = _id_claims(opaque, tokens["id_token"])["sub"]

    stock = opaque.introspect(tokens["access_token"], stock=True)
    assert set(stock) == DOT_USER_ANSWER  # no sub, no iss, no iat
    assert stock["active"] is True
    assert stock["scope"] == BFF_SCOPES
    assert stock["client_id"] == BFF_CLIENT_ID
    assert stock["username"] == "alice"  # the login name, not the subject
    assert stock["aud"] == [opaque.audience]  # RFC 8707 resource, always a list

    answer = opaque.introspect(tokens["access_token"])
    assert set(answer) == DOT_USER_ANSWER | ADDED
    assert {k: answer[k] for k in DOT_USER_ANSWER} == stock
    assert answer["sub"] == subject
    assert answer["iss"] == opaque.issuer
    assert answer["token_type"] == "Bearer"
    assert abs(answer["exp"] - answer["iat"] - ACCESS_TOKEN_TTL_S) <= 1
    assert abs(answer["iat"] - time.time()) < 60

    # DOT introspects access tokens only: its refresh tokens answer inactive.
    assert opaque.introspect(tokens["refresh_token"]) == {"active": False}
    assert opaque.introspect("x" * 30) == {"active": False}


def test_introspection_is_for_the_resource_server_only(opaque: OpaqueStack) -> None:
    access = code_flow(opaque, "alice").tokens["access_token"]
    endpoint = opaque.url("introspect/")
    as_bff = httpx.post(
        endpoint, auth=(BFF_CLIENT_ID, opaque.bff_client_secret), data={"token": access}
    )
    assert as_bff.status_code == 401
    assert as_bff.json() == {"error": "invalid_client"}
    assert httpx.post(endpoint, data={"token": access}).status_code == 401
    # A wrong secret for the right client: DOT's own refusal is a bare 403.
    wrong = httpx.post(endpoint, auth=(INTROSPECTION_CLIENT_ID, "wrong"), data={"token": access})
    assert (wrong.status_code, wrong.content) == (403, b"")

    # DOT alone would answer any registered client (recorded for the README).
    stock = httpx.post(
        f"{opaque.issuer.rsplit('/', 1)[0]}/__test/introspect-dot/",
        auth=(BFF_CLIENT_ID, opaque.bff_client_secret),
        data={"token": access},
    )
    assert stock.status_code == 200
    assert stock.json()["active"] is True


def test_userinfo_refuses_a_token_bound_to_the_api(opaque: OpaqueStack) -> None:
    userinfo = opaque.url("userinfo/")
    bound = code_flow(opaque, "alice").tokens["access_token"]
    refused = httpx.get(userinfo, headers={"Authorization": f"Bearer {bound}"})
    # RFC 8707: DOT compares the token's audience (the API) with the userinfo URL.
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_token"

    unbound = code_flow(opaque, "admin", resource=None).tokens["access_token"]
    assert "aud" not in opaque.introspect(unbound)  # so the API could not accept it
    claims = httpx.get(userinfo, headers={"Authorization": f"Bearer {unbound}"})
    assert claims.status_code == 200, claims.text
    body = claims.json()
    assert set(body) == {"sub", "name", "preferred_username", "email", "email_verified", "groups"}
    assert (body["name"], body["groups"]) == ("Ada Admin", ["admin"])


def test_refresh_rotates_and_a_replay_revokes_the_whole_family(opaque: OpaqueStack) -> None:
    first = code_flow(opaque, "alice").tokens
    rotated = opaque.refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert set(second) == set(first)  # a new ID token comes with every refresh
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    refreshed_id = _id_claims(opaque, second["id_token"])
    assert set(refreshed_id) == ID_TOKEN_CLAIMS - {"nonce"}  # OIDC Core §12.2
    assert refreshed_id["sub"] == _id_claims(opaque, first["id_token"])["sub"]
    # Rotation ends the previous access token at once.
    assert opaque.introspect(first["access_token"]) == {"active": False}
    assert opaque.introspect(second["access_token"])["active"] is True
    assert opaque.introspect(second["access_token"])["aud"] == [opaque.audience]

    replay = opaque.refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # Reuse protection (RFC 9700 §4.14.2): the newest tokens of that family are revoked too.
    assert opaque.introspect(second["access_token"]) == {"active": False}
    assert opaque.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_the_access_token_ends_its_refresh_token_too(opaque: OpaqueStack) -> None:
    tokens = code_flow(opaque, "alice").tokens
    assert opaque.revoke(tokens["access_token"], "access_token").status_code == 200  # RFC 7009
    assert opaque.introspect(tokens["access_token"]) == {"active": False}
    assert opaque.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_the_refresh_token_ends_its_access_token(opaque: OpaqueStack) -> None:
    tokens = code_flow(opaque, "alice").tokens
    assert opaque.revoke(tokens["refresh_token"], "refresh_token").status_code == 200
    assert opaque.introspect(tokens["access_token"]) == {"active": False}
    assert opaque.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # RFC 7009 §2.2: an unknown token is no error.
    assert opaque.revoke("x" * 30, "refresh_token").status_code == 200


def test_client_credentials_and_its_introspection(opaque: OpaqueStack) -> None:
    granted = opaque.token_request(
        SERVICE_CLIENT_ID,
        opaque.service_client_secret,
        grant_type="client_credentials",
        scope="inventory:read",
        resource=opaque.audience,
    )
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}  # no refresh
    assert body["scope"] == "inventory:read"
    assert _opaque_shape(body["access_token"])

    stock = opaque.introspect(body["access_token"], stock=True)
    assert stock == {
        "active": True,
        "scope": "inventory:read",
        "exp": stock["exp"],
        "client_id": SERVICE_CLIENT_ID,
        "aud": [opaque.audience],
    }  # no user, so no username, and no sub at all
    answer = opaque.introspect(body["access_token"])
    assert set(answer) == set(stock) | ADDED
    assert answer["sub"] == SERVICE_CLIENT_ID  # RFC 9068 §2.2 convention, added here

    # The service client may have its own scope only; without `scope` it gets that one.
    write = opaque.token_request(
        SERVICE_CLIENT_ID,
        opaque.service_client_secret,
        grant_type="client_credentials",
        scope="inventory:write",
    )
    assert write.status_code == 400
    assert write.json()["error"] == "invalid_scope"
    default = opaque.token_request(
        SERVICE_CLIENT_ID, opaque.service_client_secret, grant_type="client_credentials"
    )
    assert default.json()["scope"] == "inventory:read"
    assert "aud" not in opaque.introspect(default.json()["access_token"])  # no resource


# -- the BFF against it ------------------------------------------------------------------------


def test_bff_login_then_me(opaque: OpaqueStack) -> None:
    with Browser(opaque.bff_url) as browser:
        landing = bff_login(browser, opaque, "alice")
        assert landing.status_code == 200
        assert str(landing.url) == f"{opaque.bff_url}/"
        me = browser.me()
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["sub"].isdigit()
        assert (body["name"], body["email"], body["groups"]) == (
            "Alice Liddell",
            "alice@example.test",
            [],
        )
        assert body["session"]["expires_at"]
        assert "token" not in me.text.lower()

    with Browser(opaque.bff_url) as browser:
        bff_login(browser, opaque, "admin")
        assert browser.me().json()["groups"] == ["admin"]


def test_bff_logout_is_rp_initiated_and_revokes(opaque: OpaqueStack) -> None:
    with Browser(opaque.bff_url) as browser:
        bff_login(browser, opaque, "alice")
        before = opaque.provider_stats()

        out = browser.logout()
        assert out.status_code == 200, out.text
        logout_url = out.json()["logout_url"]
        assert logout_url.startswith(opaque.url("logout/"))
        query = parse_qs(urlsplit(logout_url).query)
        assert query["id_token_hint"]
        assert query["post_logout_redirect_uri"] == [f"{opaque.bff_url}/"]
        assert query["client_id"] == [BFF_CLIENT_ID]
        assert browser.me().status_code == 401
        # RFC 7009: the BFF revoked its refresh token at the provider.
        assert _deltas(before, opaque.provider_stats()).get("revocation_200", 0) >= 1

        # Another sign-in of the same user, elsewhere (tokens kept by hand).
        elsewhere = code_flow(opaque, "alice").tokens

        # The hint names the signed-in user, so DOT signs out without asking.
        back = browser.navigate(logout_url)
        assert str(back.url).startswith(opaque.bff_url), browser.pages[-3:]
        assert _deltas(before, opaque.provider_stats())["end_session"] == 1
        # DOT's end-session deletes every token of that user, at every client: the other
        # sign-in is over too (OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS, on by default).
        assert opaque.introspect(elsewhere["access_token"]) == {"active": False}
        assert opaque.refresh(elsewhere["refresh_token"]).json()["error"] == "invalid_grant"
        # The provider session is over: the next login shows the login form again.
        page = browser.navigate(f"{opaque.bff_url}/auth/login?returnTo=/")
        assert "/accounts/login/" in str(page.url)
        assert 'name="username"' in page.text


def test_bff_refreshes_with_rotation_and_no_reuse(opaque: OpaqueStack, eager_bff: str) -> None:
    with Browser(eager_bff) as browser:
        bff_login(browser, opaque, "alice")
        before = opaque.provider_stats()
        for _ in range(3):
            response = browser.api("GET", "/products")
            # Whatever the API makes of the token, the BFF kept the session.
            if response.status_code != 200:
                assert response.json().get("error") not in ("session_expired", "unauthenticated")
        deltas = _deltas(before, opaque.provider_stats())
        assert deltas.get("token_refresh_token_200") == 3, deltas
        assert deltas.get("token_refresh_token_400", 0) == 0, deltas
        assert browser.me().status_code == 200


# -- the API, introspecting --------------------------------------------------------------------


def test_api_crud_through_the_bff(opaque: OpaqueStack) -> None:
    with Browser(opaque.bff_url) as browser:
        bff_login(browser, opaque, "alice")
        me = browser.api_json("GET", "/me")
        assert me["user"]["issuer"] == opaque.issuer
        assert me["user"]["subject"] == browser.me().json()["sub"]
        assert me["user"]["role"] == "member"

        product = browser.api_json("POST", "/products", 201, json={"name": "Oat milk"})
        pid = product["id"]
        listed = browser.api_json("GET", "/products", params={"limit": 200})["items"]
        assert pid in [p["id"] for p in listed]
        patched = browser.api_json("PATCH", f"/products/{pid}", json={"category": "Drinks"})
        assert patched["category"] == "Drinks"
        row = browser.api("POST", f"/products/{pid}/inventory", json={"quantity": 2, "unit": "l"})
        assert row.status_code == 201, row.text
        rid, etag = row.json()["id"], row.headers["etag"]
        updated = browser.api(
            "PATCH", f"/inventory/{rid}", json={"quantity": 1.5}, headers={"If-Match": etag}
        )
        assert updated.status_code == 200, updated.text
        stale = browser.api(
            "PATCH", f"/inventory/{rid}", json={"quantity": 1}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412
        assert browser.api("DELETE", f"/inventory/{rid}").status_code == 204
        assert browser.api("DELETE", f"/products/{pid}").status_code == 204
        assert browser.api("GET", f"/products/{pid}").status_code == 404


def test_api_accepts_every_refreshed_token(opaque: OpaqueStack, eager_bff: str) -> None:
    with Browser(eager_bff) as browser:
        bff_login(browser, opaque, "alice")
        before = opaque.provider_stats()
        for _ in range(3):
            browser.api_json("GET", "/products")
        deltas = _deltas(before, opaque.provider_stats())
        assert deltas.get("token_refresh_token_200") == 3, deltas
        assert deltas.get("introspection_active", 0) >= 3, deltas  # each new token was checked


def _api_status(api_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{api_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_api_refuses_revoked_and_unknown_tokens(opaque: OpaqueStack) -> None:
    with Browser(opaque.bff_url) as browser:
        bff_login(browser, opaque, "alice")
        assert browser.api("GET", "/products").status_code == 200
        assert browser.logout().status_code == 200
        assert browser.api("GET", "/products").json()["error"] == "unauthenticated"

    tokens = code_flow(opaque, "alice").tokens
    assert _api_status(opaque.api_url, tokens["access_token"]).status_code == 200
    assert opaque.revoke(tokens["refresh_token"], "refresh_token").status_code == 200
    # Cached answers live at most API_INTROSPECTION_CACHE_S: poll a little past that.
    deadline = time.monotonic() + INTROSPECTION_CACHE_S + 10
    while (refused := _api_status(opaque.api_url, tokens["access_token"])).status_code == 200:
        assert time.monotonic() < deadline, "a revoked token is still accepted"
        time.sleep(0.5)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    unknown = _api_status(opaque.api_url, "x" * 30)
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]


def test_api_service_call_with_client_credentials(opaque: OpaqueStack) -> None:
    with Browser(opaque.bff_url) as browser:
        bff_login(browser, opaque, "alice")
        pid = browser.api_json("POST", "/products", 201, json={"name": "for the service"})["id"]
        browser.api_json("POST", f"/products/{pid}/inventory", 201, json={"quantity": 3})

    bearer = {"Authorization": f"Bearer {opaque.service_token()}"}
    with httpx.Client(base_url=opaque.api_url, headers=bearer, timeout=10) as api:
        seen: set[str] = set()
        page = api.get("/products", params={"limit": 200})
        while True:
            assert page.status_code == 200, page.text
            seen.update(p["id"] for p in page.json()["items"])
            if not page.json()["next"]:
                break
            page = api.get("/products", params={"limit": 200, "cursor": page.json()["next"]})
        assert pid in seen  # across all users
        assert api.get(f"/products/{pid}/inventory").status_code == 200
        assert api.post("/products", json={"name": "nope"}).status_code == 403
        assert api.delete(f"/products/{pid}").status_code == 403


def test_api_keeps_users_of_two_issuers_apart(
    opaque: OpaqueStack, two_issuers: SecondIssuer
) -> None:
    dot = code_flow(opaque, "alice").tokens["access_token"]
    subject = opaque.introspect(dot)["sub"]
    # oidc-provider takes any login name as the subject: the same `sub`, another `iss`.
    jwt_token = code_flow_tokens(
        two_issuers.issuer,
        two_issuers.bff_public_url,
        two_issuers.bff_client_secret,
        subject,
        resource=JWT_AUDIENCE,
    )["access_token"]

    def api(token: str) -> httpx.Client:
        return httpx.Client(
            base_url=two_issuers.api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    with api(dot) as as_dot, api(jwt_token) as as_jwt:
        me_dot, me_jwt = as_dot.get("/me"), as_jwt.get("/me")
        assert me_dot.status_code == 200, me_dot.text
        assert me_jwt.status_code == 200, me_jwt.text
        user_dot, user_jwt = me_dot.json()["user"], me_jwt.json()["user"]
        assert (user_dot["issuer"], user_dot["subject"]) == (opaque.issuer, subject)
        assert (user_jwt["issuer"], user_jwt["subject"]) == (two_issuers.issuer, subject)
        assert user_dot["id"] != user_jwt["id"]

        mine = as_dot.post("/products", json={"name": "from the opaque issuer"})
        theirs = as_jwt.post("/products", json={"name": "from the JWT issuer"})
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert [p["id"] for p in as_dot.get("/products").json()["items"]] == [mine.json()["id"]]
        assert [p["id"] for p in as_jwt.get("/products").json()["items"]] == [theirs.json()["id"]]
        assert as_jwt.get(f"/products/{mine.json()['id']}").status_code == 404
