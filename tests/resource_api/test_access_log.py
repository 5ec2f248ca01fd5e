"""access_log.py: one line per request with method, path, status and request id; never
the query string (a token put there must not reach the log)."""

import logging

import httpx
import pytest

from shared import RequestIdFilter
from shared.request_log import loggable_path
from tests.resource_api.world import World


async def test_token_in_query_string_is_never_logged(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    token = world.headers["owner"]["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.DEBUG):
        refused = await client.get(
            f"/me?access_token={token}", headers={"X-Request-ID": "query-token"}
        )
        listed = await client.get(
            f"/products?limit=1&token={token}", headers=world.headers["owner"]
        )
    assert refused.status_code == 401
    assert listed.status_code == 200
    # the test's own client (logger "httpx") logs the URL it requests; the API must not
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert token not in logged
    assert token.split(".")[2] not in logged  # not even the signature
    access = [r for r in caplog.records if r.name == "resource_api.access"]
    lines = [r.getMessage() for r in access]
    assert lines[0].startswith("GET /me 401 ")
    assert lines[1].startswith("GET /products 200 ")
    assert lines[0].endswith("ms")
    assert getattr(access[0], "request_id", None) == "query-token"


@pytest.mark.parametrize(
    ("scope", "logged"),
    [
        ({"path": "/me", "raw_path": b"/me?access_token=abc"}, "/me"),
        ({"path": "/a\nb", "raw_path": b"/a%0Ab"}, "/a%0Ab"),
        ({"path": "/a\nb"}, "/a\\x0ab"),
        ({"path": "/x", "raw_path": b"/" + b"a" * 300}, "/" + "a" * 255 + "..."),
    ],
)
def test_loggable_path(scope: dict[str, object], logged: str) -> None:
    assert loggable_path(scope) == logged  # type: ignore[arg-type]
