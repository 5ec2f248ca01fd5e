"""Refresh at exp - margin: single-flight, result cache, invalid_grant, provider trouble."""

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bff.refresh.refresher import MAX_CACHE_TTL_S, cache_ttl
from tests.bff.conftest import Harness, cookie_header, raw_request


async def test_refresh_race_one_call_zero_failures(harness: Harness) -> None:
    await harness.login()
    cookies = harness.session_cookies()
    harness.clock.advance(250)  # 300 s token, 60 s margin: due
    gate = harness.provider.refresh_gate = asyncio.Event()

    async def one() -> int:
        response = await raw_request(
            harness.app, "GET", b"/api/items", [cookie_header(cookies), (b"x-csrf", b"1")]
        )
        return response.status

    tasks = [asyncio.ensure_future(one()) for _ in range(20)]
    for _ in range(200):  # let every request reach the refresh
        await asyncio.sleep(0)
    # all 20 are waiting on the one refresh the provider is holding
    assert harness.provider.refresh_calls == 1
    assert not any(task.done() for task in tasks)
    gate.set()
    statuses = await asyncio.gather(*tasks)
    assert statuses == [200] * 20
    assert harness.provider.refresh_calls == 1

    # later requests still carrying the old cookie reuse the cached result (no replay)
    late = await asyncio.gather(*(one() for _ in range(5)))
    assert late == [200] * 5
    assert harness.provider.refresh_calls == 1
    assert not harness.provider.revoked_grants
    tokens = {v for r in harness.upstream.received for k, v in r["headers"] if k == "authorization"}
    assert len(tokens) == 1  # every request used the one new access token


async def test_refresh_rotates_and_reissues_cookie(harness: Harness) -> None:
    await harness.login()
    before = harness.session_cookies()
    harness.clock.advance(250)
    response = await harness.api("/api/items")
    assert response.status_code == 200
    assert harness.provider.refresh_calls == 1
    assert harness.session_cookies() != before
    again = await harness.api("/api/items")
    assert again.status_code == 200
    assert harness.provider.refresh_calls == 1


async def test_no_refresh_before_margin(harness: Harness) -> None:
    await harness.login()
    harness.clock.advance(200)
    assert (await harness.api("/api/items")).status_code == 200
    assert harness.provider.refresh_calls == 0


async def test_invalid_grant_ends_session(harness: Harness) -> None:
    await harness.login()
    harness.provider.refresh_tokens.clear()  # the provider forgot the grant
    harness.clock.advance(250)
    response = await harness.api("/api/items")
    assert response.status_code == 401
    assert response.json()["error"] == "session_expired"
    assert not harness.session_cookies()
    assert not harness.upstream.received
    assert (await harness.client.get("/auth/me")).status_code == 401


async def test_provider_down_with_valid_token_keeps_serving(harness: Harness) -> None:
    await harness.login()
    harness.clock.advance(250)  # due, but not expired
    harness.provider.token_response_override = _plain(503)
    response = await harness.api("/api/items")
    assert response.status_code == 200


async def test_provider_down_with_expired_token_is_502(harness: Harness) -> None:
    await harness.login()
    harness.clock.advance(400)
    harness.provider.token_response_override = _plain(503)
    response = await harness.api("/api/items")
    assert response.status_code == 502
    harness.provider.token_response_override = None
    assert (await harness.api("/api/items")).status_code == 200  # session kept


def _plain(status: int):  # type: ignore[no-untyped-def]
    from starlette.responses import Response

    return Response(status_code=status)


# --- a slow response must not roll back a rotated refresh token (review M1) --------------


class _GatedTransport(httpx.AsyncBaseTransport):
    """The upstream, holding requests for `/slow` until `gate` is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/slow"):
            await self.gate.wait()
        return await self.inner.handle_async_request(request)


async def test_slow_response_started_before_a_refresh_keeps_the_rotated_token(
    harness: Harness,
) -> None:
    slow = _GatedTransport(httpx.ASGITransport(app=harness.upstream.app))
    harness.upstream_transport = slow
    harness.rebuild()
    await harness.login()
    harness.clock.advance(100)  # seen_at due for a touch; the 300 s token is not due yet
    first = asyncio.ensure_future(harness.api("/api/slow"))  # carries cookie C1
    for _ in range(50):
        await asyncio.sleep(0)
    harness.clock.advance(150)  # within the refresh margin now
    assert (await harness.api("/api/fast")).status_code == 200  # rotates: cookie C2
    assert harness.provider.refresh_calls == 1
    slow.gate.set()
    assert (await first).status_code == 200
    harness.clock.advance(31 + 60)  # past the old 30 s result cache; the token is due again
    after = await harness.api("/api/next")
    assert after.status_code == 200, after.text
    assert not harness.provider.revoked_grants


async def test_write_back_after_a_refresh_elsewhere_takes_the_newest_tokens(
    harness: Harness,
) -> None:
    await harness.login()
    old = harness.session_cookies()
    harness.clock.advance(250)
    assert (await harness.api("/api/items")).status_code == 200  # rotates
    harness.clock.advance(45)  # longer than the upstream timeout (30 s) allowed before
    # a request still carrying the old cookie writes the session back (touch)...
    late = await raw_request(harness.app, "GET", b"/auth/me", [cookie_header(old)])
    assert late.status == 200
    lines = [v.decode() for k, v in late.headers if k == b"set-cookie"]
    assert lines
    written = dict(line.split(";", 1)[0].split("=", 1) for line in lines)
    # ...with the rotated refresh token, so the next refresh does not replay the old one
    harness.clock.advance(300)
    response = await raw_request(
        harness.app, "GET", b"/api/items", [cookie_header(written), (b"x-csrf", b"1")]
    )
    assert response.status == 200
    assert harness.provider.refresh_calls == 2
    assert not harness.provider.revoked_grants


def test_refresh_result_cache_outlives_the_upstream_timeout() -> None:
    assert cache_ttl(30) >= 60
    assert cache_ttl(120) >= 150
    assert cache_ttl(10_000) == MAX_CACHE_TTL_S


# --- only invalid_grant ends a session (review M2, M6) --------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Response("<html>Too Many Requests</html>", status_code=429, media_type="text/html"),
        Response("<html>Bad gateway</html>", status_code=400, media_type="text/html"),
        Response("slow down", status_code=408),
        JSONResponse({"error": "temporarily_unavailable"}, status_code=400),
        JSONResponse({"error": "invalid_client"}, status_code=401),
        JSONResponse({"error": "unauthorized_client"}, status_code=400),
        JSONResponse({"error": "invalid_request\r\nforged"}, status_code=400),
    ],
)
async def test_provider_trouble_at_refresh_keeps_the_session(
    harness: Harness, answer: Response
) -> None:
    await harness.login()
    harness.clock.advance(250)  # due, still valid
    harness.provider.token_response_override = answer
    kept = await harness.api("/api/items")
    assert kept.status_code == 200
    assert not any("Max-Age=0" in line for line in kept.headers.get_list("set-cookie"))
    harness.clock.advance(100)  # expired now
    expired = await harness.api("/api/items")
    assert expired.status_code == 502
    assert expired.json()["error"] == "provider_unavailable"
    assert (await harness.client.get("/auth/me")).status_code == 200
    harness.provider.token_response_override = None
    assert (await harness.api("/api/items")).status_code == 200


async def test_refreshed_id_token_with_jwks_unreachable_keeps_the_session(
    harness: Harness,
) -> None:
    await harness.login()
    harness.rebuild()  # a restart: the JWKS is not cached any more
    original = harness.provider._tokens

    def with_id_token(grant, *, id_token):  # type: ignore[no-untyped-def]
        return original(grant, id_token=True)

    harness.provider._tokens = with_id_token  # type: ignore[method-assign]
    harness.provider.app.router.routes[1] = Route("/jwks", _unavailable)
    harness.clock.advance(250)
    response = await harness.api("/api/items")
    assert response.status_code == 200, response.text
    assert harness.provider.refresh_calls == 1
    # the rotated refresh token was kept: the next refresh is not a replay
    harness.clock.advance(300)
    assert (await harness.api("/api/items")).status_code == 200
    assert harness.provider.refresh_calls == 2
    assert not harness.provider.revoked_grants


async def _unavailable(request: Request) -> Response:
    return Response(status_code=503)


async def test_refresh_with_provider_metadata_never_loaded(harness: Harness) -> None:
    await harness.login()
    harness.provider.app.router.routes[0] = Route("/.well-known/openid-configuration", _unavailable)
    harness.rebuild()  # restarted while the provider is down
    harness.clock.advance(250)  # due, still valid
    assert (await harness.api("/api/items")).status_code == 200
    harness.clock.advance(100)
    response = await harness.api("/api/items")
    assert response.status_code == 502
    assert response.json()["error"] == "provider_unavailable"
