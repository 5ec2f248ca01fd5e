"""The attack matrix: each case asserts the refusal, and nothing reaching the upstream."""

import base64
import os
from typing import Any

import pytest

from bff.keyring import KeyRing
from bff.session.cookie import PURPOSE
from bff.settings import parse_session_keys
from tests.bff.conftest import Harness, cookie_header, me_status, raw_request
from tests.bff.fakes import ISSUER

SESSION = "__Host-Http-bff-session"


# --- open redirects through returnTo (RFC 9700 §4.11) ---------------------------------

OPEN_REDIRECTS = [
    "//evil.test",
    "///evil.test",
    "/%5Cevil.test",  # decodes to /\evil.test
    "%5C%5Cevil.test",
    "https:evil.test",
    "https://evil.test",
    "%2F%2Fevil.test",  # decodes to //evil.test
    "%252F%252Fevil.test",  # decodes to %2F%2Fevil.test (no leading slash)
    "/%252F%252Fevil.test",  # decodes to /%2F%2Fevil.test (encoded slashes)
    "/%09/evil.test",  # TAB: browsers strip it, leaving //evil.test
    "/%2509/evil.test",
    "javascript:alert(1)",
    "/%0D%0ASet-Cookie:%20x=1",  # CR/LF header injection
    "/" + "a" * 3000,  # over-long
    "evil.test",
    "/%00",
    "/caf%C3%A9",  # non-ASCII after decoding
    "/ok//evil.test",
]


@pytest.mark.parametrize("raw", OPEN_REDIRECTS)
async def test_return_to_refused(harness: Harness, raw: str) -> None:
    response = await harness.client.get(f"/auth/login?returnTo={raw}")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert "invalid_return_to" in response.text


async def test_prompt_injection_refused(harness: Harness) -> None:
    response = await harness.client.get("/auth/login", params={"prompt": "none&foo=bar"})
    assert response.status_code == 400


# --- the callback ------------------------------------------------------------------------


async def _callback_refused(harness: Harness, response: Any, error: str) -> None:
    assert response.status_code == 400, response.text
    assert error in response.text
    assert not harness.session_cookies()
    assert (await harness.client.get("/auth/me")).status_code == 401


async def test_state_missing(harness: Harness) -> None:
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_state")


async def test_state_mismatched(harness: Harness) -> None:
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": "x" * 43, "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_state")


async def test_state_replayed_with_saved_transaction_cookie(harness: Harness) -> None:
    query = await harness.start_login()
    jar = harness.client.cookies.jar
    saved = {c.name: c.value for c in jar if "bff-login" in c.name and c.value is not None}
    code = harness.provider.approve(query)
    first = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    assert first.status_code == 302
    harness.client.cookies.clear()
    for name, value in saved.items():
        harness.client.cookies.set(name, value, domain="app.test")
    code2 = harness.provider.approve(query)
    replay = await harness.callback({"code": code2, "state": query["state"], "iss": ISSUER})
    await _callback_refused(harness, replay, "invalid_state")


async def test_state_from_another_browser(harness: Harness) -> None:
    query = await harness.start_login()
    harness.client.cookies.clear()  # the victim's browser has no pending login
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_state")


async def test_code_replay(harness: Harness) -> None:
    query = await harness.start_login()
    code = harness.provider.approve(query)
    assert (
        await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    ).status_code == 302
    harness.client.cookies.clear()
    query2 = await harness.start_login()
    response = await harness.callback({"code": code, "state": query2["state"], "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_grant")


async def test_nonce_mismatch(harness: Harness) -> None:
    query = await harness.start_login()
    code = harness.provider.approve({**query, "nonce": "attacker-nonce"})
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_nonce")


async def test_nonce_missing(harness: Harness) -> None:
    harness.provider.id_token_overrides = {"nonce": None}
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_nonce")


async def test_iss_parameter_mismatch(harness: Harness) -> None:
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback(
        {"code": code, "state": query["state"], "iss": "https://evil.test"}
    )
    await _callback_refused(harness, response, "invalid_issuer")
    assert not harness.provider.token_requests  # the code never went to the token endpoint


async def test_iss_parameter_missing_when_advertised(harness: Harness) -> None:
    harness.provider.metadata_extra = {"authorization_response_iss_parameter_supported": True}
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"]})
    await _callback_refused(harness, response, "invalid_issuer")


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "other-client"},
        {"aud": ["other-client", "bff-client"], "azp": "other-client"},
        {"iss": "https://evil.test"},
        {"exp": 1},
        {"sub": None},
    ],
    ids=["aud-other-client", "azp-other-client", "iss-other", "expired", "no-sub"],
)
async def test_id_token_refused(harness: Harness, overrides: dict[str, Any]) -> None:
    harness.provider.id_token_overrides = overrides
    query = await harness.start_login()
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    await _callback_refused(harness, response, "invalid_id_token")


async def test_provider_error_is_escaped(harness: Harness) -> None:
    query = await harness.start_login()
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "<script>alert(1)</script>"}
    )
    await _callback_refused(harness, response, "&lt;script&gt;")
    assert "<script>" not in response.text


# --- the session cookie --------------------------------------------------------------


def _flip(value: str, index: int) -> str:
    swapped = "A" if value[index] != "A" else "B"
    return value[:index] + swapped + value[index + 1 :]


@pytest.mark.parametrize("where", [5, 60, 200, -20, -2])
async def test_cookie_bit_flip(harness: Harness, where: int) -> None:
    await harness.login()
    cookies = harness.session_cookies()
    assert await me_status(harness, cookies) == 200
    value = cookies[SESSION]
    cookies[SESSION] = _flip(value, where % len(value))
    assert await me_status(harness, cookies) == 401


async def test_cookie_truncated(harness: Harness) -> None:
    await harness.login()
    cookies = harness.session_cookies()
    cookies[SESSION] = cookies[SESSION][:-10]
    assert await me_status(harness, cookies) == 401


async def _big_login(harness: Harness, sub: str = "user-1") -> dict[str, str]:
    # random (incompressible) claims push the sealed session over one cookie
    groups = [base64.b64encode(os.urandom(24)).decode() for _ in range(90)]
    harness.client.cookies.clear()
    await harness.login(sub=sub, groups=groups)
    cookies = harness.session_cookies()
    assert len(cookies) >= 3, cookies.keys()
    return cookies


async def test_chunks_reordered(harness: Harness) -> None:
    cookies = await _big_login(harness)
    assert await me_status(harness, cookies) == 200
    cookies[SESSION + ".1"], cookies[SESSION + ".2"] = (
        cookies[SESSION + ".2"],
        cookies[SESSION + ".1"],
    )
    assert await me_status(harness, cookies) == 401


async def test_chunk_missing(harness: Harness) -> None:
    cookies = await _big_login(harness)
    del cookies[SESSION + ".1"]
    assert await me_status(harness, cookies) == 401


async def test_chunks_mixed_from_two_sessions(harness: Harness) -> None:
    first = await _big_login(harness, "user-1")
    second = await _big_login(harness, "user-2")
    mixed = {**first, SESSION + ".1": second[SESSION + ".1"]}
    assert await me_status(harness, mixed) == 401


async def test_cookie_sealed_by_foreign_key_ring(harness: Harness) -> None:
    await harness.login()
    own = KeyRing(harness.settings.session_keys)
    payload = own.open(harness.session_cookies()[SESSION].split("~", 1)[1], PURPOSE)
    assert payload is not None
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    foreign = KeyRing(parse_session_keys(f"a:{secret}"))  # same kid, other key
    forged = "1~" + foreign.seal(payload.payload, PURPOSE)
    assert await me_status(harness, {SESSION: forged}) == 401


async def test_login_transaction_cookie_is_not_a_session(harness: Harness) -> None:
    await harness.start_login()
    jar = harness.client.cookies.jar
    tx = next(c.value for c in jar if "bff-login" in c.name and c.value is not None)
    assert await me_status(harness, {SESSION: "1~" + tx}) == 401


async def test_idle_session_expires(harness: Harness) -> None:
    await harness.login()
    harness.clock.advance(harness.settings.session_idle_s + 1)
    assert (await harness.client.get("/auth/me")).status_code == 401


async def test_absolute_session_expiry(harness: Harness) -> None:
    await harness.login()
    step = harness.settings.session_idle_s - 10
    elapsed = 0
    while elapsed + step < harness.settings.session_max_age_s:
        harness.clock.advance(step)
        elapsed += step
        assert (await harness.client.get("/auth/me")).status_code == 200
    harness.clock.advance(harness.settings.session_max_age_s - elapsed + 1)
    assert (await harness.client.get("/auth/me")).status_code == 401


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {}),
        ("PUT", {}),
        ("DELETE", {}),
        ("GET", {}),  # no Fetch Metadata: the header is required
        ("GET", {"Sec-Fetch-Site": "same-site"}),
        ("POST", {"Sec-Fetch-Site": "same-origin"}),  # only safe methods are exempt
        ("POST", {"X-CSRF": "true"}),
        ("POST", {"X-CSRF": "1", "Sec-Fetch-Site": "cross-site"}),
        ("GET", {"X-CSRF": "1", "Sec-Fetch-Site": "cross-site"}),
    ],
)
async def test_csrf_refused(harness: Harness, method: str, headers: dict[str, str]) -> None:
    await harness.login()
    response = await harness.client.request(method, "/api/products", headers=headers)
    assert response.status_code == 403
    assert not harness.upstream.received


async def test_csrf_safe_same_origin_allowed(harness: Harness) -> None:
    await harness.login()
    response = await harness.client.get("/api/file", headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-CSRF": "1", "Sec-Fetch-Site": "cross-site"}])
async def test_logout_csrf_refused(harness: Harness, headers: dict[str, str]) -> None:
    await harness.login()
    response = await harness.client.post("/auth/logout", headers=headers)
    assert response.status_code == 403
    assert (await harness.client.get("/auth/me")).status_code == 200


# --- the proxy ------------------------------------------------------------------------

TRAVERSALS = [
    b"/api/../admin",
    b"/api/%2e%2e/admin",
    b"/api/%2E%2e/admin",
    b"/api/products/%2e%2e%2f%2e%2e%2fadmin",
    b"/api/a%2fb",
    b"/api/a%2Fb",
    b"/api/a%5cb",
    b"/api/a\\b",
    b"/api/a%00b",
    b"/api/%252e%252e/admin",
    b"/api/./products",
    b"/api/a//b",
    b"/api/a/%0d%0ab",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_path_traversal_refused(harness: Harness, path: bytes) -> None:
    await harness.login()
    response = await raw_request(
        harness.app, "GET", path, [cookie_header(harness.session_cookies()), (b"x-csrf", b"1")]
    )
    assert response.status == 400
    assert not harness.upstream.received


async def test_hop_by_hop_smuggling(harness: Harness) -> None:
    await harness.login()
    headers = [
        cookie_header(harness.session_cookies()),
        (b"x-csrf", b"1"),
        (b"connection", b"keep-alive, X-Smuggle, authorization-ish"),
        (b"x-smuggle", b"1"),
        (b"authorization-ish", b"x"),
        (b"te", b"trailers"),
        (b"upgrade", b"h2c"),
        (b"proxy-authorization", b"Basic Zm9vOmJhcg=="),
        (b"keep-alive", b"timeout=300"),
        (b"trailer", b"X-Late"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-host", b"evil.test"),
        (b"forwarded", b"for=10.0.0.1"),
    ]
    response = await raw_request(harness.app, "GET", b"/api/products", headers)
    assert response.status == 200
    received = harness.upstream.headers_of()
    for name in (
        "connection",
        "x-smuggle",
        "authorization-ish",
        "te",
        "upgrade",
        "proxy-authorization",
        "keep-alive",
        "trailer",
        "forwarded",
    ):
        assert name not in received, name
    assert received["x-forwarded-for"] == ["203.0.113.7"]
    assert received["x-forwarded-host"] == ["app.test"]
    # and on the way back: upstream hop-by-hop and Set-Cookie never reach the browser
    names = response.header_names()
    assert not names & {"connection", "keep-alive", "x-secret-hop", "set-cookie"}
    assert "x-upstream" in names


async def test_no_cookie_or_browser_authorization_ever_reaches_upstream(harness: Harness) -> None:
    await harness.login()
    cookies = {**harness.session_cookies(), "other": "1", "_session": "provider"}
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        response = await raw_request(
            harness.app,
            method,
            b"/api/items?q=1",
            [
                cookie_header(cookies),
                (b"x-csrf", b"1"),
                (b"authorization", b"Bearer browser-chosen-token"),
                (b"content-type", b"application/json"),
                (b"content-length", b"2"),
            ],
            body=b"{}",
        )
        assert response.status == 200, (method, response.body)
    assert len(harness.upstream.received) == 7
    for record in harness.upstream.received:
        names = [k.lower() for k, _ in record["headers"]]
        assert "cookie" not in names
        auths = [v for k, v in record["headers"] if k.lower() == "authorization"]
        assert len(auths) == 1
        assert auths[0].startswith("Bearer at-")
        assert "browser-chosen-token" not in str(record)
        assert "bff-session" not in str(record)


async def test_upstream_set_cookie_dropped(harness: Harness) -> None:
    await harness.login()
    response = await harness.api("/api/x")
    assert "upstream" not in harness.client.cookies
    assert "set-cookie" not in response.headers


# --- back-channel logout --------------------------------------------------------------


async def _bcl(harness: Harness, token: str) -> int:
    response = await harness.client.post("/auth/backchannel-logout", data={"logout_token": token})
    return response.status_code


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        ({"nonce": "n"}, None),
        ({"events": None}, None),
        ({"sid": None, "sub": None}, None),
        ({}, {"typ": "JWT"}),
        ({"aud": "other-client"}, None),
        ({"iss": "https://evil.test"}, None),
    ],
    ids=["nonce", "no-events", "no-sid-sub", "wrong-typ", "other-aud", "other-iss"],
)
async def test_backchannel_logout_token_refused(
    harness: Harness, claims: dict[str, Any], header: dict[str, str] | None
) -> None:
    await harness.login()
    body = {
        "sub": "user-1",
        "sid": "sid-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        "scope": None,
        **claims,
    }
    token = harness.provider.tokens.mint(
        body, header=header or {"typ": "logout+jwt"}, now=harness.clock()
    )
    assert await _bcl(harness, token) == 400
    assert (await harness.client.get("/auth/me")).status_code == 200


async def test_backchannel_logout_jti_replay(harness: Harness) -> None:
    await harness.login(sid="sid-9")
    token = harness.provider.logout_token(sid="sid-9")
    assert await _bcl(harness, token) == 200
    assert await _bcl(harness, token) == 400
