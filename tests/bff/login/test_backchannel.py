"""Back-channel logout: every later request with that session is unauthenticated."""

from tests.bff.conftest import Harness, me_status


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
    assert await me_status(harness, victim) == 401
    assert await me_status(harness, other) == 200


async def test_backchannel_logout_by_sub_then_new_login_works(harness: Harness) -> None:
    await harness.login(sid=None)
    before = harness.session_cookies()
    token = harness.provider.logout_token(sid=None, sub="user-1")
    response = await harness.client.post("/auth/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 200
    assert await me_status(harness, before) == 401
    assert (await harness.api("/api/items")).status_code == 401
    harness.clock.advance(1)
    harness.client.cookies.clear()
    await harness.login(sid=None)
    assert await me_status(harness, harness.session_cookies()) == 200


async def test_backchannel_logout_needs_form(harness: Harness) -> None:
    response = await harness.client.post("/auth/backchannel-logout", json={"logout_token": "x"})
    assert response.status_code == 400
    garbage = await harness.client.post("/auth/backchannel-logout", data={"logout_token": "a.b.c"})
    assert garbage.status_code == 400


async def test_backchannel_logout_with_too_many_fields_is_400(harness: Harness) -> None:
    body = "&".join(f"a{i}=1" for i in range(12)) + "&logout_token=x"
    response = await harness.client.post(
        "/auth/backchannel-logout",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
