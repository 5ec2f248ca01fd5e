"""`/auth/login`, `/auth/callback`, `/auth/me`, `/auth/logout`: silent login, client auth, the
size budget, cookie names, logout."""

import base64
import os
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.bff.conftest import Harness, build_harness, cookie_header, me_status, raw_request
from tests.bff.fakes import ISSUER


async def test_silent_login_required_returns_with_marker(harness: Harness) -> None:
    query = await harness.start_login(returnTo="/page?tab=2", prompt="none")
    assert query["prompt"] == "none"
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "login_required"}
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/page?tab=2&auth_error=login_required"
    assert not harness.session_cookies()


async def test_silent_login_marker_goes_before_the_fragment(harness: Harness) -> None:
    query = await harness.start_login(returnTo="/page#section", prompt="none")
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "interaction_required"}
    )
    assert response.headers["location"] == "/page?auth_error=login_required#section"


async def test_login_required_without_prompt_none_is_an_error_page(harness: Harness) -> None:
    query = await harness.start_login()
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "login_required"}
    )
    assert response.status_code == 400
    assert "login_required" in response.text


async def test_session_too_large_refused_at_login(harness: Harness) -> None:
    groups = [base64.b64encode(os.urandom(24)).decode() for _ in range(200)]
    query = await harness.start_login()
    code = harness.provider.approve(query, groups=groups)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    assert response.status_code == 400
    assert "session_too_large" in response.text
    assert not harness.session_cookies()


async def test_stale_chunks_removed_when_session_shrinks(harness: Harness) -> None:
    groups = [base64.b64encode(os.urandom(24)).decode() for _ in range(90)]
    await harness.login(groups=groups)
    assert len(harness.session_cookies()) >= 3
    response = await harness.login()
    assert len(harness.session_cookies()) == 1
    removed = [line for line in response.headers.get_list("set-cookie") if "Max-Age=0" in line]
    assert any("bff-session.1=" in line for line in removed)


async def test_public_client_sends_client_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, client_secret="")
    async with harness.client, harness.outbound:
        await harness.login()
        request = harness.provider.token_requests[0]
        assert request["auth"] is None
        assert request["form"]["client_id"] == "bff-client"
        assert "client_secret" not in request["form"]


async def test_client_secret_post_when_basic_unsupported(harness: Harness) -> None:
    harness.provider.metadata_extra = {
        "token_endpoint_auth_methods_supported": ["client_secret_post"]
    }
    await harness.login()
    request = harness.provider.token_requests[0]
    assert request["auth"] is None
    assert request["form"]["client_secret"] == "s3cret"


async def test_resource_indicator_sent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, resource="https://api.test")
    async with harness.client, harness.outbound:
        response = await harness.client.get("/auth/login")
        query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
        assert query["resource"] == "https://api.test"
        code = harness.provider.approve(query)
        await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
        assert harness.provider.token_requests[0]["form"]["resource"] == "https://api.test"


async def test_http_loopback_uses_plain_cookie_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, public_url="http://127.0.0.1:8000", cookie_samesite="lax")
    harness.client.base_url = "http://127.0.0.1:8000"
    async with harness.client, harness.outbound:
        query = await harness.start_login()
        code = harness.provider.approve(query)
        response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
        line = next(
            x for x in response.headers.get_list("set-cookie") if x.startswith("bff-session=")
        )
        assert "Secure" not in line
        assert "SameSite=Lax" in line
        assert "__Host-" not in line
        assert (await harness.client.get("/auth/me")).status_code == 200


async def test_copied_cookie_dies_with_logout(harness: Harness) -> None:
    await harness.login()
    copy = harness.session_cookies()
    assert (await harness.api("/auth/logout", method="POST")).status_code == 200
    assert await me_status(harness, copy) == 401


async def test_logout_without_session(harness: Harness) -> None:
    response = await harness.api("/auth/logout", method="POST")
    assert response.status_code == 200
    assert "logout_url" in response.json()
    assert not harness.provider.revocations


async def test_logout_url_null_without_end_session_endpoint(harness: Harness) -> None:
    harness.provider.metadata_extra = {"end_session_endpoint": None}
    await harness.login()
    response = await harness.api("/auth/logout", method="POST")
    assert response.json() == {"logout_url": None}


async def test_logout_with_provider_down_still_clears_the_session(harness: Harness) -> None:
    await harness.login()
    copy = harness.session_cookies()

    async def unavailable(request: Request) -> Response:
        return Response(status_code=503)

    harness.provider.app.router.routes[0] = Route("/.well-known/openid-configuration", unavailable)
    harness.rebuild()  # restarted while the provider is down: no metadata
    response = await harness.api("/auth/logout", method="POST")
    assert response.status_code == 200
    assert response.json() == {"logout_url": None}
    assert any("Max-Age=0" in line for line in response.headers.get_list("set-cookie"))
    assert await me_status(harness, copy) == 401


async def test_logout_revokes_the_newest_refresh_token_too(harness: Harness) -> None:
    await harness.login()
    old = harness.session_cookies()
    harness.clock.advance(250)
    assert (await harness.api("/api/items")).status_code == 200  # rotated; old cookie kept
    live = set(harness.provider.refresh_tokens)
    assert len(live) == 1
    response = await raw_request(
        harness.app, "POST", b"/auth/logout", [cookie_header(old), (b"x-csrf", b"1")]
    )
    assert response.status == 200
    revoked = {form["token"] for form in harness.provider.revocations}
    assert live <= revoked
