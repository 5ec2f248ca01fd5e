"""`shared.introspection`: RFC 7662 answers judged like a JWT's claims, cached by token
hash within `cache_s` and `exp`, one request per token at a time, and doubt never a yes."""

import asyncio
import base64
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import httpx
import pytest
import respx

from shared import (
    Introspector,
    InvalidToken,
    MetadataCache,
    Principal,
    ProviderError,
    TokenProfile,
    basic_authorization,
    looks_like_jws,
)
from shared.fetch import RetryPolicy
from shared.introspection import MAX_ANSWER_BYTES
from shared.verifier import MAX_TOKEN_BYTES
from tests.shared.conftest import RecordedSleep
from tests.support.clock import NOW, FakeClock
from tests.support.tokens import AUDIENCE, ISSUER

WELL_KNOWN = f"{ISSUER}/.well-known/openid-configuration"
ENDPOINT = f"{ISSUER}/token/introspection"
TOKEN = "opaque-Zm9vYmFyYmF6cXV4"
CLIENT_ID = "inventory-api"
CLIENT_SECRET = "s3cret-of-the-api"
PROFILE = TokenProfile.access_token((AUDIENCE,), ("at+jwt",))


def discovery(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "introspection_endpoint": ENDPOINT,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def answer(**changes: Any) -> dict[str, Any]:
    """An active answer as oidc-provider gives it; a `None` change removes a member."""
    body: dict[str, Any] = {
        "active": True,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "client_id": "spa",
        "scope": "openid inventory:read",
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "token_type": "Bearer",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


class Outcomes:
    """An `observe` hook that records what the endpoint's answers were judged."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, outcome: str) -> None:
        self.seen.append(outcome)


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def make(
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sleeps: RecordedSleep,
    outcomes: Outcomes,
) -> Any:
    respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(200, json=discovery()))

    def build(**kwargs: Any) -> Introspector:
        retry = RetryPolicy(attempts=2, sleep=sleeps)
        metadata = MetadataCache(ISSUER, client, clock=clock, retry=RetryPolicy(attempts=1))
        options: dict[str, Any] = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "profile": PROFILE,
            "clock": clock,
            "retry": retry,
            "observe": outcomes,
            **kwargs,
        }
        return Introspector(client, metadata, **options)

    return build


def answering(respx_mock: respx.MockRouter, *responses: Mapping[str, Any]) -> respx.Route:
    route = respx_mock.post(ENDPOINT)
    route.side_effect = [httpx.Response(200, json=dict(r)) for r in responses]
    return route


# --- the request ---------------------------------------------------------------------------


async def test_active_answer_becomes_a_verified_token(
    make: Any, respx_mock: respx.MockRouter, outcomes: Outcomes
) -> None:
    route = answering(respx_mock, answer())
    verified = await make().introspect(TOKEN)
    assert verified.claims["sub"] == "user-1"
    assert verified.header == {}
    assert verified.expires_at == NOW + 300
    principal = Principal.from_claims(verified.claims)
    assert (principal.issuer, principal.subject, principal.client_id) == (ISSUER, "user-1", "spa")
    assert principal.scopes == {"openid", "inventory:read"}
    assert outcomes.seen == ["active"]

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # RFC 7662 §2.1: the token, and a hint of its type
    assert parse_qs(request.content.decode()) == {
        "token": [TOKEN],
        "token_type_hint": ["access_token"],
    }
    assert request.headers["Authorization"] == basic_authorization(CLIENT_ID, CLIENT_SECRET)
    assert request.headers["Accept"] == "application/json"


def test_client_secret_basic_form_encodes_id_and_secret() -> None:
    # RFC 7662 §2.1 -> RFC 6749 §2.3.1: form-urlencode each part, then HTTP Basic
    value = basic_authorization("svc:1 é", "p@ss word+/:")
    scheme, _, encoded = value.partition(" ")
    assert scheme == "Basic"
    raw = base64.b64decode(encoded, validate=True).decode("ascii")
    assert raw == "svc%3A1+%C3%A9:p%40ss+word%2B%2F%3A"
    user, _, password = raw.partition(":")  # the one unencoded colon separates them
    assert (unquote_plus(user), unquote_plus(password)) == ("svc:1 é", "p@ss word+/:")


# --- what the answer must say --------------------------------------------------------------


async def test_inactive_is_invalid_token(
    make: Any, respx_mock: respx.MockRouter, outcomes: Outcomes
) -> None:
    answering(respx_mock, {"active": False})
    with pytest.raises(InvalidToken, match="not active") as caught:
        await make().introspect(TOKEN)
    assert caught.value.error == "invalid_token"
    assert outcomes.seen == ["inactive"]


@pytest.mark.parametrize(
    ("changes", "because"),
    [
        ({"aud": "https://other.test"}, "aud"),
        ({"aud": ["https://other.test", "x"]}, "aud"),
        ({"aud": None}, "aud"),
        ({"iss": "https://evil.test"}, "iss"),
        ({"iss": ISSUER + "/"}, "iss"),
        ({"exp": int(NOW) - 31}, "expired"),  # past the 30 s leeway
        ({"exp": None}, "exp"),
        ({"exp": "1700000300"}, "exp"),
        ({"nbf": int(NOW) + 31}, "not yet valid"),
        ({"iat": int(NOW) + 31}, "future"),
        ({"scope": ["openid", "inventory:read"]}, "scope"),
        ({"token_type": "refresh_token"}, "bearer"),
        ({"token_type": "DPoP"}, "bearer"),
        ({"token_type": 1}, "bearer"),
        ({"token_use": "refresh_token"}, "not an access token"),
        ({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}, "sender-constrained"),
        ({"typ": "Refresh"}, "not an access token"),  # Keycloak's kind of token
    ],
    ids=lambda v: str(v)[:40],
)
async def test_claims_are_checked_as_for_a_jwt(
    changes: dict[str, Any],
    because: str,
    make: Any,
    respx_mock: respx.MockRouter,
    outcomes: Outcomes,
) -> None:
    answering(respx_mock, answer(**changes))
    with pytest.raises(InvalidToken) as caught:
        await make().introspect(TOKEN)
    assert because.lower() in caught.value.description.lower()
    assert outcomes.seen == ["rejected"]


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(NOW) - 29},  # within the leeway
        {"nbf": int(NOW) + 29},
        {"aud": ["https://other.test", AUDIENCE]},
        {"token_type": "bearer"},
        {"token_type": None},
        {"token_use": "access_token"},
        {"scope": None},
    ],
    ids=lambda v: str(v)[:40],
)
async def test_acceptable_variations(
    changes: dict[str, Any], make: Any, respx_mock: respx.MockRouter
) -> None:
    answering(respx_mock, answer(**changes))
    assert (await make().introspect(TOKEN)).claims["sub"] == "user-1"


async def test_missing_iss_is_the_configured_issuer(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    # RFC 7662 §2.2: iss is optional; the endpoint is the configured issuer's own
    answering(respx_mock, answer(iss=None))
    verified = await make().introspect(TOKEN)
    assert verified.claims["iss"] == ISSUER
    assert Principal.from_claims(verified.claims).issuer == ISSUER


@pytest.mark.parametrize(
    "body",
    [
        {"iss": ISSUER},
        {"active": "true"},
        {"active": 1},
        {"active": None},
        {"active": "false"},
    ],
    ids=["missing", "string", "number", "null", "string-false"],
)
async def test_active_must_be_a_boolean(
    body: dict[str, Any], make: Any, respx_mock: respx.MockRouter, outcomes: Outcomes
) -> None:
    answering(respx_mock, {**answer(active=None), **body})
    with pytest.raises(ProviderError, match="boolean 'active'"):
        await make().introspect(TOKEN)
    assert outcomes.seen == ["error"]


# --- the endpoint failing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500), "unreachable after 2 attempts"),
        (httpx.Response(503, text="<html>down</html>"), "unreachable after 2 attempts"),
        (httpx.ReadTimeout("slow"), "ReadTimeout"),
        (httpx.ConnectError("refused"), "ConnectError"),
        (httpx.Response(200, text="<html>login</html>"), "did not answer JSON"),
        (httpx.Response(200, json=[{"active": True}]), "JSON object"),
        (httpx.Response(200, content=b"{" + b" " * (10 * 1024 * 1024) + b"}"), "more than"),
        (httpx.Response(401, json={"error": "invalid_client"}), "HTTP 401"),
        (httpx.Response(302, headers={"Location": "https://evil.test/"}), "HTTP 302"),
    ],
    ids=["500", "503-html", "timeout", "refused", "html", "array", "10MB", "401", "redirect"],
)
async def test_endpoint_trouble_is_a_provider_error(
    response: Any, message: str, make: Any, respx_mock: respx.MockRouter, outcomes: Outcomes
) -> None:
    respx_mock.post(ENDPOINT).mock(side_effect=[response, response])
    with pytest.raises(ProviderError, match=message):
        await make().introspect(TOKEN)
    assert outcomes.seen == ["error"]


async def test_a_5xx_is_retried_then_answered(make: Any, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(ENDPOINT)
    route.side_effect = [httpx.Response(502), httpx.Response(200, json=answer())]
    assert (await make().introspect(TOKEN)).claims["sub"] == "user-1"
    assert route.call_count == 2


def test_the_answer_cap_is_well_under_ten_megabytes() -> None:
    assert MAX_ANSWER_BYTES == 64 * 1024


async def test_no_introspection_endpoint_is_a_provider_error(
    respx_mock: respx.MockRouter, make: Any
) -> None:
    respx_mock.get(WELL_KNOWN).mock(
        return_value=httpx.Response(200, json=discovery(introspection_endpoint=None))
    )
    with pytest.raises(ProviderError, match="no introspection_endpoint"):
        await make().introspect(TOKEN)


async def test_discovery_down_is_a_provider_error(respx_mock: respx.MockRouter, make: Any) -> None:
    respx_mock.get(WELL_KNOWN).mock(return_value=httpx.Response(503))
    with pytest.raises(ProviderError):
        await make().introspect(TOKEN)


async def test_failures_are_not_cached_but_back_off(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.post(ENDPOINT)
    route.side_effect = [
        httpx.Response(500),
        httpx.Response(500),
        httpx.Response(200, json=answer()),
    ]
    introspector = make(error_backoff_s=5.0)
    with pytest.raises(ProviderError, match="unreachable"):
        await introspector.introspect(TOKEN)
    clock.advance(4.9)
    # an outage is not multiplied by traffic: no request for 5 s, any token
    with pytest.raises(ProviderError, match="retrying shortly"):
        await introspector.introspect("another-opaque-token")
    assert route.call_count == 2
    clock.advance(0.1)
    assert (await introspector.introspect(TOKEN)).claims["sub"] == "user-1"
    assert route.call_count == 3


async def test_cached_answers_outlive_an_outage(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.post(ENDPOINT)
    route.side_effect = [httpx.Response(200, json=answer())] + [httpx.Response(500)] * 2
    introspector = make()
    await introspector.introspect(TOKEN)
    with pytest.raises(ProviderError):
        await introspector.introspect("another-opaque-token")
    assert (await introspector.introspect(TOKEN)).claims["sub"] == "user-1"


# --- the cache ------------------------------------------------------------------------------


async def test_cache_is_bounded_by_the_setting(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = answering(respx_mock, answer(exp=int(NOW) + 3600), answer(exp=int(NOW) + 3600))
    introspector = make(cache_s=60.0)
    for _ in range(5):
        await introspector.introspect(TOKEN)
    clock.advance(59.9)
    await introspector.introspect(TOKEN)
    assert route.call_count == 1
    clock.advance(0.1)
    await introspector.introspect(TOKEN)
    assert route.call_count == 2


async def test_cache_never_outlives_exp(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = answering(respx_mock, answer(exp=int(NOW) + 20), {"active": False})
    introspector = make(cache_s=60.0)
    await introspector.introspect(TOKEN)
    clock.advance(19.9)
    await introspector.introspect(TOKEN)
    assert route.call_count == 1
    clock.advance(0.1)  # exp reached: asked again, and the provider now says no
    with pytest.raises(InvalidToken, match="not active"):
        await introspector.introspect(TOKEN)
    assert route.call_count == 2


async def test_refusals_are_cached_briefly(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock, outcomes: Outcomes
) -> None:
    route = answering(respx_mock, {"active": False}, answer())
    introspector = make(cache_s=60.0, negative_cache_s=10.0)
    for _ in range(3):
        with pytest.raises(InvalidToken, match="not active"):
            await introspector.introspect(TOKEN)
    clock.advance(9.9)
    with pytest.raises(InvalidToken):
        await introspector.introspect(TOKEN)
    assert route.call_count == 1
    assert outcomes.seen == ["inactive"]  # cache hits are not answers from the endpoint
    clock.advance(0.1)
    assert (await introspector.introspect(TOKEN)).claims["sub"] == "user-1"
    assert route.call_count == 2


async def test_refusals_are_cached_no_longer_than_the_setting(
    make: Any, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = answering(respx_mock, answer(aud="x"), answer(aud="x"))
    introspector = make(cache_s=2.0, negative_cache_s=10.0)
    with pytest.raises(InvalidToken):
        await introspector.introspect(TOKEN)
    clock.advance(2.0)
    with pytest.raises(InvalidToken):
        await introspector.introspect(TOKEN)
    assert route.call_count == 2


async def test_zero_disables_the_cache(make: Any, respx_mock: respx.MockRouter) -> None:
    route = answering(respx_mock, answer(), answer(), {"active": False}, {"active": False})
    introspector = make(cache_s=0.0)
    await introspector.introspect(TOKEN)
    await introspector.introspect(TOKEN)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await introspector.introspect(TOKEN)
    assert route.call_count == 4


async def test_least_recently_used_entries_go_first(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer()))
    introspector = make(max_entries=2)
    await introspector.introspect("token-a")
    await introspector.introspect("token-b")
    await introspector.introspect("token-a")  # a is now the most recent
    await introspector.introspect("token-c")  # b goes
    assert route.call_count == 3
    await introspector.introspect("token-a")
    await introspector.introspect("token-c")
    assert route.call_count == 3
    await introspector.introspect("token-b")
    assert route.call_count == 4


async def test_clear_cache_forgets_every_answer(make: Any, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer()))
    introspector = make()
    await introspector.introspect(TOKEN)
    introspector.clear_cache()
    await introspector.introspect(TOKEN)
    assert route.call_count == 2


async def test_the_cache_tells_tokens_apart(make: Any, respx_mock: respx.MockRouter) -> None:
    answering(respx_mock, answer(sub="alice"), {"active": False})
    introspector = make()
    assert (await introspector.introspect("token-of-alice")).claims["sub"] == "alice"
    with pytest.raises(InvalidToken):
        await introspector.introspect("token-of-alice-")


# --- single flight --------------------------------------------------------------------------


async def test_fifty_concurrent_calls_for_one_token_make_one_request(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=answer())

    route = respx_mock.post(ENDPOINT).mock(side_effect=slow)
    introspector = make()
    tasks = [asyncio.ensure_future(introspector.introspect(TOKEN)) for _ in range(50)]
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert route.call_count == 1
    assert all(r.claims["sub"] == "user-1" for r in results)


async def test_concurrent_refusals_are_raised_to_every_caller(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={"active": False})

    route = respx_mock.post(ENDPOINT).mock(side_effect=slow)
    introspector = make()
    tasks = [asyncio.ensure_future(introspector.introspect(TOKEN)) for _ in range(20)]
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert route.call_count == 1
    assert all(isinstance(r, InvalidToken) for r in results)
    assert len({id(r) for r in results}) == 20  # each caller its own exception


async def test_different_tokens_are_not_joined(make: Any, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer()))
    introspector = make()
    await asyncio.gather(introspector.introspect("token-a"), introspector.introspect("token-b"))
    assert route.call_count == 2


# --- the token itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "not a string"),
        (b"opaque", "not a string"),
        ("", "malformed"),
        ("x" * (MAX_TOKEN_BYTES + 1), "too large"),
    ],
    ids=["none", "bytes", "empty", "oversize"],
)
async def test_bad_tokens_never_leave(
    token: object, message: str, make: Any, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer()))
    with pytest.raises(InvalidToken, match=message):
        await make().introspect(token)
    assert route.call_count == 0


async def test_token_and_secret_appear_in_no_error_and_no_log(
    make: Any, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(200, json=answer(aud=TOKEN)),
            httpx.Response(500, text=TOKEN),
            httpx.Response(500, text=TOKEN),
        ]
    )
    introspector = make(error_backoff_s=0.0)
    descriptions = []
    caplog.set_level(logging.DEBUG)
    for exc_type in (InvalidToken, ProviderError):
        with pytest.raises(exc_type) as caught:
            await introspector.introspect(TOKEN)
        descriptions.append(caught.value.description)
        introspector.clear_cache()
    text = "\n".join([*descriptions, repr(introspector), *(r.getMessage() for r in caplog.records)])
    assert TOKEN not in text
    assert CLIENT_SECRET not in text
    assert basic_authorization(CLIENT_ID, CLIENT_SECRET).split()[1] not in text


async def test_surprises_are_provider_errors_never_a_yes(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    def explode(claims: Any) -> None:
        raise KeyError("boom")

    answering(respx_mock, answer())
    profile = TokenProfile("custom", (AUDIENCE,), ("at+jwt",), check=explode)
    with pytest.raises(ProviderError, match="introspection failed"):
        await make(profile=profile).introspect(TOKEN)


async def test_uncacheable_profiles_are_asked_every_time(
    make: Any, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer()))
    profile = TokenProfile("one-time", (AUDIENCE,), ("at+jwt",), cacheable=False)
    introspector = make(profile=profile)
    await introspector.introspect(TOKEN)
    await introspector.introspect(TOKEN)
    assert route.call_count == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_id": ""},
        {"client_secret": ""},
        {"cache_s": -1},
        {"negative_cache_s": -1},
        {"max_entries": -1},
        {"leeway_s": -1},
        {"error_backoff_s": -1},
    ],
)
def test_bad_settings_fail_fast(kwargs: dict[str, Any], make: Any) -> None:
    with pytest.raises(ValueError, match=r"client_secret_basic|negative"):
        make(**kwargs)


# --- which tokens are introspected ----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "jws"),
    [
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", True),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", True),  # unsigned: the verifier refuses it
        ("a.b.c", True),
        ("..", True),
        ("opaque-Zm9vYmFy", False),
        ("ory_at_abc.def", False),  # Ory Hydra: one dot
        ("a.b.c.d.e", False),  # a JWE: opaque to us, the provider can read it
        ("a.b.c.", False),
        ("a+b.c/d.e", False),
        ("a.b.c\n", False),
    ],
)
def test_looks_like_jws(token: str, jws: bool) -> None:
    assert looks_like_jws(token) is jws
