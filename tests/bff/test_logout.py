"""Logout, local and back-channel: every later request with that session is unauthenticated."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.bff.conftest import Harness, cookie_header, raw_request


async def _me(harness: Harness, cookies: dict[str, str]) -> int:
    return (await raw_request(harness.app, "GET", b"/auth/me", [cookie_header(cookies)])).status


async def test_copied_cookie_dies_with_logout(harness: Harness) -> None:
    await harness.login()
    copy = harness.session_cookies()
    assert (await harness.api("/auth/logout", method="POST")).status_code == 200
    assert await _me(harness, copy) == 401


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


async def test_backchannel_logout_by_sid(harness: Harness) -> None:
    await harness.login(sid="sid-A")
    victim = harness.session_cookies()
    harness.client.cookies.clear()
    await harness.login(sid="sid-B")
    other = harness.session_cookies()
    response = await harness.client.post(
        "/auth/backchannel-logout",
        data={"logout_token": harness.provider.logout_token(sid="sid-A")},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert await _me(harness, victim) == 401
    assert await _me(harness, other) == 200


async def test_backchannel_logout_by_sub_then_new_login_works(harness: Harness) -> None:
    await harness.login(sid=None)
    before = harness.session_cookies()
    token = harness.provider.logout_token(sid=None, sub="user-1")
    response = await harness.client.post("/auth/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 200
    assert await _me(harness, before) == 401
    assert (await harness.api("/api/items")).status_code == 401
    harness.clock.advance(1)
    harness.client.cookies.clear()
    await harness.login(sid=None)
    assert await _me(harness, harness.session_cookies()) == 200


async def test_backchannel_logout_needs_form(harness: Harness) -> None:
    response = await harness.client.post("/auth/backchannel-logout", json={"logout_token": "x"})
    assert response.status_code == 400
    garbage = await harness.client.post("/auth/backchannel-logout", data={"logout_token": "a.b.c"})
    assert garbage.status_code == 400


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
    assert await _me(harness, copy) == 401


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


async def test_backchannel_logout_with_too_many_fields_is_400(harness: Harness) -> None:
    body = "&".join(f"a{i}=1" for i in range(12)) + "&logout_token=x"
    response = await harness.client.post(
        "/auth/backchannel-logout",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
