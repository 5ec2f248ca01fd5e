"""`shared.discovery`: OpenID Provider metadata, its validation, TTL and failure handling."""

import asyncio
import re
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel, ValidationError, field_validator

from shared import MetadataCache, ProviderError, ProviderMetadata, check_issuer, describe
from shared.fetch import RetryPolicy
from tests.shared.conftest import RecordedSleep
from tests.support.clock import FakeClock

ISSUER = "https://idp.test"
WELL_KNOWN = f"{ISSUER}/.well-known/openid-configuration"


def document(issuer: str = ISSUER, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "end_session_endpoint": f"{issuer}/session/end",
        "revocation_endpoint": f"{issuer}/token/revocation",
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def metadata_cache(
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
    issuer: str = ISSUER,
    **kwargs: Any,
) -> MetadataCache:
    retry = RetryPolicy(attempts=3, sleep=sleeps, jitter=lambda cap: cap)
    return MetadataCache(issuer, client, clock=clock, retry=retry, **kwargs)


async def test_document_is_fetched_and_validated(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=document()))
    cache = metadata_cache(client, clock, sleeps)
    assert cache.current is None
    metadata = await cache.get()
    assert metadata.issuer == ISSUER
    assert metadata.jwks_uri == f"{ISSUER}/jwks"
    assert metadata.end_session_endpoint == f"{ISSUER}/session/end"
    assert metadata.userinfo_endpoint is None
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert metadata.authorization_response_iss_parameter_supported is True
    assert metadata.backchannel_logout_supported is True
    assert cache.current is metadata
    assert await cache.jwks_uri() == f"{ISSUER}/jwks"
    assert route.call_count == 1
    assert route.calls.last.request.headers["Accept"] == "application/json"
    assert route.calls.last.request.headers["Accept-Encoding"] == "identity"


async def test_explicit_timeouts_are_sent(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=document()))
    await metadata_cache(client, clock, sleeps).get()
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 3.0, "read": 5.0, "write": 5.0, "pool": 5.0}


async def test_issuer_with_trailing_slash_is_configured_verbatim(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    # OIDC Discovery 1.0 §4.1: strip one trailing slash before appending the well-known path
    respx_mock.get(WELL_KNOWN).mock(
        return_value=httpx.Response(200, json=document(issuer=ISSUER + "/"))
    )
    cache = metadata_cache(client, clock, sleeps, issuer=ISSUER + "/")
    assert cache.url == WELL_KNOWN
    assert (await cache.get()).issuer == ISSUER + "/"


@pytest.mark.parametrize(
    "served_issuer",
    [
        "https://evil.test",
        ISSUER + "/",
        ISSUER.upper(),
        "http://idp.test",
        ISSUER + "/realms/x",
        None,
        ["https://idp.test"],
    ],
    ids=["other", "trailing-slash", "case", "scheme", "path", "missing", "list"],
)
async def test_issuer_must_match_exactly(
    served_issuer: Any,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
) -> None:
    doc = document()
    doc["issuer"] = served_issuer
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=doc))
    with pytest.raises(ProviderError, match="issuer"):
        await metadata_cache(client, clock, sleeps).get()
    assert route.call_count == 1  # a wrong document is final, not retried


@pytest.mark.parametrize(
    "change",
    [
        {"jwks_uri": None},
        {"token_endpoint": None},
        {"authorization_endpoint": "javascript:alert(1)"},
        {"jwks_uri": "https://"},
        {"jwks_uri": "http://[::1"},
        {"end_session_endpoint": 42},
        {"code_challenge_methods_supported": "S256"},
        {"token_endpoint_auth_methods_supported": [1, 2]},
    ],
    ids=[
        "no-jwks-uri",
        "no-token-endpoint",
        "javascript-url",
        "no-host",
        "bad-ipv6",
        "number",
        "string-not-list",
        "non-strings",
    ],
)
async def test_invalid_documents_are_refused(
    change: dict[str, Any],
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
) -> None:
    doc = document()
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=doc))
    with pytest.raises(ProviderError, match="discovery document"):
        await metadata_cache(client, clock, sleeps).get()


async def test_5xx_and_network_errors_are_retried_with_exponential_backoff(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN)
    route.side_effect = [
        httpx.Response(502),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=document()),
    ]
    metadata = await metadata_cache(client, clock, sleeps).get()
    assert metadata.issuer == ISSUER
    assert route.call_count == 3
    assert sleeps.delays == [0.4, 0.8]  # caps of 0.2 s * 2^attempt; jitter is identity here


async def test_gives_up_after_the_last_attempt(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(503))
    with pytest.raises(ProviderError, match="after 3 attempts"):
        await metadata_cache(client, clock, sleeps).get()
    assert route.call_count == 3
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 429, 301, 204])
async def test_other_statuses_are_not_retried(
    status: int,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(status))
    with pytest.raises(ProviderError, match=f"HTTP {status}"):
        await metadata_cache(client, clock, sleeps).get()
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "did not answer JSON"),
        (b"\xff\xfe\x00", "did not answer JSON"),
        (b"[1, 2, 3]", "a JSON object"),
        (b'"issuer"', "a JSON object"),
        (b"null", "a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b" " * (512 * 1024 + 1), "more than"),
    ],
    ids=["malformed", "not-utf8", "array", "string", "null", "deeply-nested", "oversize"],
)
async def test_bad_bodies_are_provider_errors_and_not_retried(
    body: bytes,
    message: str,
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(ProviderError, match=message):
        await metadata_cache(client, clock, sleeps).get()
    assert route.call_count == 1


async def test_metadata_is_cached_for_its_ttl(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=document()))
    cache = metadata_cache(client, clock, sleeps, ttl_s=600)
    for _ in range(10):
        await cache.get()
    clock.advance(599)
    await cache.get()
    assert route.call_count == 1
    clock.advance(1)
    await cache.get()
    assert route.call_count == 2


async def test_stale_metadata_is_served_when_refresh_fails_with_backoff(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN)
    route.side_effect = [httpx.Response(200, json=document())] + [httpx.Response(500)] * 6
    cache = metadata_cache(client, clock, sleeps, ttl_s=600)
    first = await cache.get()
    clock.advance(600)
    assert await cache.get() is first
    assert route.call_count == 4  # 1 + 3 attempts of the failed refresh
    for _ in range(10):
        assert await cache.get() is first
    assert route.call_count == 4  # the error backoff holds further attempts
    clock.advance(5)
    assert await cache.get() is first
    assert route.call_count == 7


async def test_nothing_cached_and_failing_raises_then_backs_off(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    route = respx_mock.get(WELL_KNOWN).mock(side_effect=httpx.ConnectError("down"))
    cache = metadata_cache(client, clock, sleeps)
    with pytest.raises(ProviderError, match="unreachable"):
        await cache.get()
    with pytest.raises(ProviderError, match="retrying"):
        await cache.get()
    assert route.call_count == 3
    assert cache.current is None


async def test_concurrent_callers_share_one_fetch(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, clock: FakeClock, sleeps: RecordedSleep
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=document())

    route = respx_mock.get(WELL_KNOWN).mock(side_effect=slow)
    cache = metadata_cache(client, clock, sleeps)
    tasks = [asyncio.ensure_future(cache.get()) for _ in range(20)]
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert all(r is results[0] for r in results)
    assert route.call_count == 1


def test_from_document_directly() -> None:
    metadata = ProviderMetadata.from_document(document(), ISSUER)
    assert metadata.token_endpoint == f"{ISSUER}/token"
    assert metadata.raw["issuer"] == ISSUER
    with pytest.raises(ProviderError):
        ProviderMetadata.from_document(document(), ISSUER + "/")


@pytest.mark.parametrize("kwargs", [{"ttl_s": 0}, {"error_backoff_s": -1}])
def test_bad_settings_fail_fast(kwargs: dict[str, Any], client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        MetadataCache(ISSUER, client, **kwargs)


ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_https_issuer_refuses_a_plain_http_endpoint(name: str) -> None:
    # issue 8: a provider (or whoever edits its document) must not downgrade one endpoint
    doc = document(**{name: "http://idp.test/x"})
    with pytest.raises(ProviderError, match=f"{name} must use https"):
        ProviderMetadata.from_document(doc, ISSUER)


@pytest.mark.parametrize("issuer", ["https://127.0.0.1:9100", "https://localhost"])
def test_https_loopback_issuer_is_still_https_only(issuer: str) -> None:
    doc = document(issuer=issuer, jwks_uri="http://127.0.0.1:9100/jwks")
    with pytest.raises(ProviderError, match="jwks_uri must use https"):
        ProviderMetadata.from_document(doc, issuer)


def test_https_endpoints_on_other_hosts_are_accepted() -> None:
    doc = document(jwks_uri="https://keys.idp-cdn.test/jwks", introspection_endpoint=None)
    metadata = ProviderMetadata.from_document(doc, ISSUER)
    assert metadata.jwks_uri == "https://keys.idp-cdn.test/jwks"
    assert metadata.introspection_endpoint is None


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:9100", "http://[::1]:9100", "http://localhost:9100"]
)
def test_loopback_http_issuer_may_use_http_endpoints_on_loopback(issuer: str) -> None:
    doc = document(issuer=issuer, introspection_endpoint=f"{issuer}/token/introspection")
    metadata = ProviderMetadata.from_document(doc, issuer)
    assert metadata.jwks_uri == f"{issuer}/jwks"
    assert metadata.introspection_endpoint == f"{issuer}/token/introspection"


def test_loopback_http_issuer_may_not_send_us_to_another_host_in_the_clear() -> None:
    issuer = "http://127.0.0.1:9100"
    doc = document(issuer=issuer, token_endpoint="http://idp.test/token")
    with pytest.raises(ProviderError, match="token_endpoint must use https"):
        ProviderMetadata.from_document(doc, issuer)
    ok = ProviderMetadata.from_document(
        document(issuer=issuer, token_endpoint=f"{ISSUER}/t"), issuer
    )
    assert ok.token_endpoint == f"{ISSUER}/t"


def test_introspection_endpoint_is_read() -> None:
    doc = document(introspection_endpoint=f"{ISSUER}/token/introspection")
    metadata = ProviderMetadata.from_document(doc, ISSUER)
    assert metadata.introspection_endpoint == f"{ISSUER}/token/introspection"


@pytest.mark.parametrize(
    "issuer",
    [
        "https://idp.example",
        "https://idp.example/",
        "https://idp.example:8443/realms/main",
        "http://127.0.0.1:9100",
        "http://127.8.9.10",
        "http://[::1]:9100",
        "http://localhost:9100/oidc",
    ],
)
def test_check_issuer_accepts_https_and_loopback_http(issuer: str) -> None:
    assert check_issuer(issuer) == issuer


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://idp.example", "must use https (plain http is allowed on a loopback host only)"),
        ("http://10.0.0.1:9100", "must use https"),
        ("http://localhost.evil.test", "must use https"),
        ("ftp://idp.example", "must be an absolute https URL"),
        ("idp.example", "must be an absolute https URL"),
        ("https://", "must be an absolute https URL"),
        ("", "must be an absolute https URL"),
        ("https://idp.example/?tenant=a", "must not contain a query or a fragment"),
        ("https://idp.example?", "must not contain a query or a fragment"),
        ("https://idp.example/#x", "must not contain a query or a fragment"),
        ("https://user:pw@idp.example", "must not contain credentials"),
        ("https://idp.example:port", "is not a valid URL"),
        ("https://[::1", "is not a valid URL"),
        (" https://idp.example", "must not contain spaces or control characters"),
        ("https://idp.example/\n", "must not contain spaces or control characters"),
    ],
)
def test_check_issuer_refuses_with_a_clear_message(issuer: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        check_issuer(issuer)


def test_check_issuer_message_follows_the_variable_name_in_settings() -> None:
    # the apps' settings validators call it; describe() prefixes the variable's name
    class Example(BaseModel):
        oidc_issuer: str

        @field_validator("oidc_issuer")
        @classmethod
        def _issuer(cls, value: str) -> str:
            return check_issuer(value)

    with pytest.raises(ValidationError) as caught:
        Example(oidc_issuer="http://idp.example")
    assert describe(caught.value, "API_") == [
        "API_OIDC_ISSUER: must use https (plain http is allowed on a loopback host only)"
    ]
