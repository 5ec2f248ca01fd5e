"""Refresh at exp - margin: single-flight, result cache, invalid_grant, retry on invalid_token."""

import asyncio

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


async def test_upstream_invalid_token_refreshes_once_and_retries_once(harness: Harness) -> None:
    await harness.login()
    harness.upstream.valid_tokens = set()  # the current token is refused
    original = harness.provider._tokens

    def remember(grant, *, id_token):  # type: ignore[no-untyped-def]
        body = original(grant, id_token=id_token)
        harness.upstream.valid_tokens.add(body["access_token"])  # type: ignore[union-attr]
        return body

    harness.provider._tokens = remember  # type: ignore[method-assign]
    response = await harness.api("/api/items")
    assert response.status_code == 200
    assert harness.provider.refresh_calls == 1
    assert len(harness.upstream.received) == 2


async def test_upstream_invalid_token_retried_for_bodiless_delete(harness: Harness) -> None:
    await harness.login()
    harness.upstream.valid_tokens = set()
    response = await harness.api("/api/items/1", method="DELETE")
    assert response.status_code == 401
    assert harness.provider.refresh_calls == 1
    assert len(harness.upstream.received) == 2


async def test_upstream_invalid_token_not_retried_for_post(harness: Harness) -> None:
    await harness.login()
    harness.upstream.valid_tokens = set()
    response = await harness.api("/api/items", method="POST", json={"a": 1})
    assert response.status_code == 401
    assert harness.provider.refresh_calls == 0
    assert len(harness.upstream.received) == 1


async def test_upstream_still_invalid_after_retry_passes_401_through(harness: Harness) -> None:
    await harness.login()
    harness.upstream.valid_tokens = set()
    response = await harness.api("/api/items")
    assert response.status_code == 401
    assert harness.provider.refresh_calls == 1
    assert len(harness.upstream.received) == 2


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
