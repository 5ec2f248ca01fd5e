"""The proxy's request path: method, body and query forwarded; CSRF; a token the upstream
refuses is refreshed once and retried once."""

from collections.abc import AsyncIterator

from tests.bff.conftest import Harness


async def test_body_method_query_forwarded(harness: Harness) -> None:
    await harness.login()
    response = await harness.api(
        "/api/products/7", method="PATCH", params={"a": "1", "b": "x y"}, json={"name": "tea"}
    )
    assert response.status_code == 200
    record = harness.upstream.received[-1]
    assert record["method"] == "PATCH"
    assert record["raw_path"] == "/products/7"
    assert record["query"] == "a=1&b=x+y"
    assert record["body"] == '{"name":"tea"}'
    assert harness.upstream.headers_of()["content-type"] == ["application/json"]


async def test_api_root_and_unknown_auth_paths(harness: Harness) -> None:
    await harness.login()
    assert (await harness.api("/api")).status_code == 200
    assert (await harness.client.get("/auth/nope")).status_code == 404
    assert (await harness.client.get("/api/x")).status_code == 403  # no CSRF header


async def test_streamed_request_body(harness: Harness) -> None:
    await harness.login()

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"a" * 1000, b"b" * 1000):
            yield part

    response = await harness.api("/api/upload", method="POST", content=chunks())
    assert response.status_code == 200
    assert harness.upstream.received[-1]["body"] == "a" * 1000 + "b" * 1000


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
