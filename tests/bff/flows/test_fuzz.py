"""Property: no cookie, query string or `/api` path a client can send makes the app answer
5xx (review M5). The upstream is in-process and healthy, so 502/504 would be bugs too."""

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bff.conftest import Harness, build_harness, cookie_header, raw_request

# what h11 lets through in a request target or header value: no controls, no CR/LF
_TARGET_BYTES = st.binary(max_size=80).map(
    lambda b: bytes(c for c in b if 0x21 <= c <= 0xFF and c != 0x7F)
)
_COOKIE_VALUE = st.one_of(
    _TARGET_BYTES,
    st.tuples(st.sampled_from([b"1~", b"2~", b"4~", b"\xb2~", b"9~"]), _TARGET_BYTES).map(b"".join),
    st.integers(0, 1500).map(lambda n: b"1~" + b"W1tb" * n + b".a.b.c.d"),
).map(lambda b: b.replace(b";", b""))
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]]]:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        harness = build_harness(Path(tmp))
        loop.run_until_complete(harness.login())
        cookies = harness.session_cookies()
        try:
            yield loop, harness, cookies
        finally:
            loop.run_until_complete(harness.client.aclose())
            loop.run_until_complete(harness.outbound.aclose())
            loop.close()


def _status(
    live: tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]],
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
) -> int:
    loop, harness, _ = live
    raw = target.split(b"?", 1)[0]
    # what the server routes on: the percent-decoded path (uvicorn keeps a '#')
    path = unquote(raw.decode("latin-1"), encoding="latin-1")
    response = loop.run_until_complete(raw_request(harness.app, method, target, headers, path=path))
    return response.status


@_FUZZ
@given(
    value=_COOKIE_VALUE,
    path=st.sampled_from([b"/auth/me", b"/api/items", b"/auth/logout", b"/auth/login"]),
    chunk=st.booleans(),
)
def test_cookie_values_never_5xx(
    live: tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]],
    value: bytes,
    path: bytes,
    chunk: bool,
) -> None:
    harness = live[1]
    name = harness.policy.session_name.encode()
    if path == b"/auth/login":
        name = harness.policy.login_prefix.encode() + b"0123456789abcdef"
    cookie = name + b"=" + value
    if chunk:
        cookie += b"; " + name + b".1=" + value
    method = "POST" if path == b"/auth/logout" else "GET"
    status = _status(live, method, path, [(b"cookie", cookie), (b"x-csrf", b"1")])
    assert status < 500, (path, value)


@_FUZZ
@given(
    query=_TARGET_BYTES,
    path=st.sampled_from([b"/auth/login", b"/auth/callback", b"/api/items", b"/auth/me"]),
)
def test_query_strings_never_5xx(
    live: tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]], query: bytes, path: bytes
) -> None:
    cookies = live[2]
    headers = [cookie_header(cookies), (b"x-csrf", b"1")]
    status = _status(live, "GET", path + b"?" + query, headers)
    assert status < 500, (path, query)


@_FUZZ
@given(
    rest=_TARGET_BYTES,
    prefix=st.sampled_from([b"/api/", b"/api", b"/%61pi/", b"/api/x/"]),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_api_paths_never_5xx(
    live: tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]],
    rest: bytes,
    prefix: bytes,
    method: str,
) -> None:
    cookies = live[2]
    headers = [cookie_header(cookies), (b"x-csrf", b"1")]
    status = _status(live, method, prefix + rest, headers)
    assert status < 500, (prefix, rest)


@_FUZZ
@given(value=_TARGET_BYTES, name=st.sampled_from([b"x-foo", b"connection", b"x-request-id"]))
def test_header_values_never_5xx(
    live: tuple[asyncio.AbstractEventLoop, Harness, dict[str, str]], value: bytes, name: bytes
) -> None:
    cookies = live[2]
    headers = [cookie_header(cookies), (b"x-csrf", b"1"), (name, value)]
    status = _status(live, "GET", b"/api/items", headers)
    assert status < 500, (name, value)
