"""`shared.fetch`: the one place `shared` talks HTTP, and the only errors it lets out."""

import asyncio
from typing import Any

import httpx
import pytest
import respx

from shared import ProviderError
from shared.fetch import MAX_DOCUMENT_BYTES, RetryPolicy, fetch_json, full_jitter, post_form_json
from tests.shared.conftest import RecordedSleep

URL = "https://idp.test/doc"


async def test_returns_the_json_object(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.get(URL).mock(return_value=httpx.Response(200, json={"a": 1}))
    assert await fetch_json(client, URL) == {"a": 1}


async def test_policy_configures_attempts_and_backoff_caps(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(URL).mock(return_value=httpx.Response(500))
    with pytest.raises(ProviderError, match="after 4 attempts"):
        await fetch_json(
            client,
            URL,
            policy=RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=3.0, sleep=sleeps),
        )
    assert route.call_count == 4
    assert len(sleeps.delays) == 3
    # full jitter: each delay is somewhere in [0, cap], caps 2, 3, 3
    assert all(0 <= d <= cap for d, cap in zip(sleeps.delays, [2.0, 3.0, 3.0], strict=True))


def test_backoff_caps_grow_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=3.0)
    assert [policy.delay_cap(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_stays_within_the_cap() -> None:
    samples = [full_jitter(2.0) for _ in range(200)]
    assert all(0 <= s <= 2.0 for s in samples)
    assert len(set(samples)) > 100  # actually random


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("bad"),
        httpx.ReadError("reset"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_network_errors_are_retried(
    error: Exception, respx_mock: respx.MockRouter, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(URL)
    route.side_effect = [error, httpx.Response(200, json={"ok": True})]
    policy = RetryPolicy(attempts=2, sleep=sleeps)
    assert await fetch_json(client, URL, policy=policy) == {"ok": True}
    assert route.call_count == 2
    assert len(sleeps.delays) == 1


async def test_the_whole_attempt_has_a_deadline(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    # a server that never finishes answering: the deadline ends the attempt, then retries
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    route = respx_mock.get(URL).mock(side_effect=hang)
    policy = RetryPolicy(attempts=2, deadline_s=0.01, sleep=sleeps)
    with pytest.raises(ProviderError, match="TimeoutError"):
        await fetch_json(client, URL, policy=policy)
    assert route.call_count == 0  # never answered
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("url", ["not a url", "ftp://idp.test/doc", "https://", "http://[::1"])
async def test_unusable_urls_are_provider_errors_without_retry(
    url: str, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    with pytest.raises(ProviderError):
        await fetch_json(client, url, policy=RetryPolicy(attempts=3, sleep=sleeps))
    assert sleeps.delays == []


async def test_redirects_are_not_followed_even_by_a_following_client(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(URL).mock(
        return_value=httpx.Response(302, headers={"Location": "https://evil.test/doc"})
    )
    evil = respx_mock.get("https://evil.test/doc").mock(return_value=httpx.Response(200, json={}))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        with pytest.raises(ProviderError, match="HTTP 302"):
            await fetch_json(client, URL)
    assert evil.call_count == 0


async def test_declared_oversize_is_refused_before_reading(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    headers = {"Content-Length": str(MAX_DOCUMENT_BYTES + 1)}
    respx_mock.get(URL).mock(return_value=httpx.Response(200, headers=headers, content=b"{}"))
    with pytest.raises(ProviderError, match="more than"):
        await fetch_json(client, URL)


async def test_streamed_oversize_is_refused(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 8192

    respx_mock.get(URL).mock(return_value=httpx.Response(200, content=chunks()))
    with pytest.raises(ProviderError, match="more than"):
        await fetch_json(client, URL)


async def test_exactly_the_limit_is_accepted(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    body = b"{}" + b" " * (MAX_DOCUMENT_BYTES - 2)
    respx_mock.get(URL).mock(return_value=httpx.Response(200, content=body))
    assert await fetch_json(client, URL) == {}


# --- POST of a form (RFC 7662 introspection) -------------------------------------------------

FORM_URL = "https://idp.test/token/introspection"


async def test_post_sends_a_form_and_the_extra_headers(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = respx_mock.post(FORM_URL).mock(return_value=httpx.Response(200, json={"a": 1}))
    answer = await post_form_json(
        client, FORM_URL, {"token": "t o+k", "x": "1"}, headers={"Authorization": "Basic eDp5"}
    )
    assert answer == {"a": 1}
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"token=t+o%2Bk&x=1"
    assert request.headers["Authorization"] == "Basic eDp5"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.extensions["timeout"] == {"connect": 3.0, "read": 5.0, "write": 5.0, "pool": 5.0}


async def test_post_retries_network_errors_and_5xx_only(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    route = respx_mock.post(FORM_URL)
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.Response(200, json={"ok": True}),
    ]
    policy = RetryPolicy(attempts=3, sleep=sleeps)
    assert await post_form_json(client, FORM_URL, {"token": "t"}, policy=policy) == {"ok": True}
    assert route.call_count == 3
    assert all(call.request.content == b"token=t" for call in route.calls)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 307])
async def test_post_other_statuses_are_final(
    status: int, respx_mock: respx.MockRouter, client: httpx.AsyncClient, sleeps: RecordedSleep
) -> None:
    route = respx_mock.post(FORM_URL).mock(return_value=httpx.Response(status))
    with pytest.raises(ProviderError, match=f"HTTP {status}"):
        await post_form_json(client, FORM_URL, {"token": "t"}, policy=RetryPolicy(sleep=sleeps))
    assert route.call_count == 1


async def test_post_is_not_redirected_with_the_token(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FORM_URL).mock(
        return_value=httpx.Response(307, headers={"Location": "https://evil.test/in"})
    )
    evil = respx_mock.post("https://evil.test/in").mock(return_value=httpx.Response(200, json={}))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        with pytest.raises(ProviderError, match="HTTP 307"):
            await post_form_json(client, FORM_URL, {"token": "secret-token"})
    assert evil.call_count == 0


async def test_post_size_cap_is_configurable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.post(FORM_URL).mock(return_value=httpx.Response(200, content=b"{}" + b" " * 99))
    assert await post_form_json(client, FORM_URL, {}, max_bytes=101) == {}
    with pytest.raises(ProviderError, match="more than 100 bytes"):
        await post_form_json(client, FORM_URL, {}, max_bytes=100)


async def test_errors_and_logs_never_carry_the_form(
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    sleeps: RecordedSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx_mock.post(FORM_URL).mock(return_value=httpx.Response(500, text="secret-token"))
    with pytest.raises(ProviderError) as caught:
        await post_form_json(
            client,
            FORM_URL,
            {"token": "secret-token"},
            headers={"Authorization": "Basic c2VjcmV0"},
            policy=RetryPolicy(attempts=2, sleep=sleeps),
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (caught.value.description, logged):
        assert "secret-token" not in text
        assert "c2VjcmV0" not in text


@pytest.mark.parametrize("body", [b'{"exp": NaN}', b'{"exp": Infinity}', b'{"exp": -Infinity}'])
async def test_nan_and_infinity_are_not_json(
    body: bytes, respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.get(URL).mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(ProviderError, match="did not answer JSON"):
        await fetch_json(client, URL)
