"""Every `returnTo` that `/auth/login` accepts leads back to the BFF's own origin.

The property is checked end to end: an accepted value goes through the whole login (fake
provider, in process) and the callback's `Location` is resolved against the public origin
by a WHATWG-conformant URL parser (ada-url, what browsers implement), so a value that some
parser would read as another host (`/\\evil`, `/%2F%2Fevil`, `/\tevil`...) cannot pass.
RFC 9700 §4.11 (open redirectors).
"""

from collections.abc import AsyncIterator
from pathlib import Path

import ada_url
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bff.conftest import Harness, build_harness
from tests.bff.fakes import ISSUER, PUBLIC_URL

ORIGIN = ada_url.URL(PUBLIC_URL).origin
ACCEPTED: list[bool] = []

#: characters that make URL parsers disagree: separators, escapes, whitespace, controls
_TRICKY = st.sampled_from(
    [
        "/",
        "\\",
        "%",
        "2",
        "5",
        "F",
        "f",
        "c",
        ".",
        ":",
        "@",
        "?",
        "#",
        "\t",
        "\n",
        "\r",
        " ",
        "\x00",
        "\x7f",
        "\u3002",
        "\uff0f",
        "\u2044",
        "evil.test",
        "http:",
        "//",
        "%2f",
        "%5c",
        "%09",
        "%00",
        "%252f",
        "&",
        ";",
        "~",
    ]
)
RETURN_TO = st.one_of(
    # ordinary SPA paths, so both answers are always exercised
    st.from_regex(
        r"/[a-z0-9_.~-]{0,10}(/[a-z0-9%]{1,6}){0,3}(\?[a-z]=[0-9a-z/]{0,4})?", fullmatch=True
    ),
    st.lists(_TRICKY, max_size=8).map("".join),
    st.lists(_TRICKY, max_size=8).map(lambda parts: "/" + "".join(parts)),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("return_to")


@pytest.fixture
async def harness(module_tmp: Path) -> AsyncIterator[Harness]:
    h = build_harness(module_tmp)
    try:
        yield h
    finally:
        await h.client.aclose()
        await h.outbound.aclose()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(value=RETURN_TO)
async def test_accepted_return_to_stays_same_origin(harness: Harness, value: str) -> None:
    harness.client.cookies.clear()
    response = await harness.client.get("/auth/login", params={"returnTo": value})
    ACCEPTED.append(response.status_code == 302)
    if response.status_code != 302:
        assert response.status_code == 400, (value, response.status_code)
        return
    query = dict(
        pair.split("=", 1)
        for pair in ada_url.URL(response.headers["location"]).search[1:].split("&")
    )
    from urllib.parse import unquote

    state, nonce, challenge = (unquote(query[k]) for k in ("state", "nonce", "code_challenge"))
    code = harness.provider.approve(
        {
            "nonce": nonce,
            "code_challenge": challenge,
            "redirect_uri": unquote(query["redirect_uri"]),
            "client_id": unquote(query["client_id"]),
        }
    )
    done = await harness.callback({"code": code, "state": state, "iss": ISSUER})
    assert done.status_code == 302, (value, done.text)
    target = ada_url.URL(done.headers["location"], PUBLIC_URL)
    assert target.origin == ORIGIN, (value, done.headers["location"], target.href)


def test_the_property_saw_both_answers() -> None:
    # runs after the property above (file order): it must have exercised both branches
    assert sum(ACCEPTED) >= 30, sum(ACCEPTED)
    assert len(ACCEPTED) - sum(ACCEPTED) >= 30
