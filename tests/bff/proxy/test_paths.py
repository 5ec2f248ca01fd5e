"""Which `/api` paths and queries are forwarded: smuggling attempts are 400 `invalid_path`."""

from urllib.parse import unquote_to_bytes

import pytest

from bff.proxy.paths import path_problem
from tests.bff.conftest import Harness, cookie_header, raw_request


def test_path_problem_accepts_ordinary_paths() -> None:
    for ok in (b"products", b"products/7/inventory", b"a%20b", b"caf%C3%A9", b"x/", b""):
        assert path_problem(ok) is None, ok


# --- input-driven 500s and path/header smuggling (review M5, L2, L3, L4) ---------------


@pytest.mark.parametrize(
    "raw",
    [
        b"/api/a?x#y",
        b"/api/a#y",
        b"/api/a\xff",
        b"/api/a?\xff",
        b"/api/a?x\x7f",
        b"/%61pi/b",
        b"/%61pi",
        b"/api//b",
        b"/api/..;/admin",
        b"/api/a/.;x/b",
        b"/api/%2e%2e;/admin",
    ],
)
async def test_unforwardable_paths_are_400(harness: Harness, raw: bytes) -> None:
    await harness.login()
    headers = [cookie_header(harness.session_cookies()), (b"x-csrf", b"1")]
    # the server decodes the path for routing (`/%61pi` routes as `/api`), not raw_path
    path = unquote_to_bytes(raw.split(b"?")[0].split(b"#")[0]).decode("latin-1")
    response = await raw_request(harness.app, "GET", raw, headers, path=path)
    assert response.status == 400, raw
    assert b"invalid_path" in response.body
    assert not harness.upstream.received


def test_path_problem_refuses_matrix_dot_segments() -> None:
    for bad in (b"..;/admin", b"a/..;x/b", b".;/a", b"%2e%2e;x/a", b"a#b", b"a b", b"/a"):
        assert path_problem(bad) is not None, bad
