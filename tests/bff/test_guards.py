"""Unit tests for `bff.guards` (CSRF and returnTo) beyond the attack matrix."""

import pytest

from bff.guards import csrf_ok, safe_return_to, valid_prompt


@pytest.mark.parametrize(
    "value", ["/", "/products", "/products?id=7&x=%20y", "/a/b#frag", "/caf%C3%A9", "/a:b"]
)
def test_return_to_accepted(value: str) -> None:
    assert safe_return_to(value) == value


def test_return_to_default() -> None:
    assert safe_return_to(None) == "/"
    assert safe_return_to("") == "/"


@pytest.mark.parametrize(
    ("method", "headers", "ok"),
    [
        ("GET", {"sec-fetch-site": "same-origin"}, True),
        ("HEAD", {"sec-fetch-site": "same-origin"}, True),
        ("GET", {"x-csrf": "1"}, True),
        ("POST", {"x-csrf": "1", "sec-fetch-site": "same-origin"}, True),
        ("POST", {"x-csrf": "1"}, True),
        ("GET", {"sec-fetch-site": "none"}, False),
        ("POST", {}, False),
        ("GET", {"x-csrf": "1", "sec-fetch-site": "cross-site"}, False),
    ],
)
def test_csrf(method: str, headers: dict[str, str], ok: bool) -> None:
    assert csrf_ok(method, headers) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, True),
        ("none", True),
        ("login consent", True),
        ("none\r\n", False),
        ("bogus", False),
        ("", False),
    ],
)
def test_prompt(value: str | None, ok: bool) -> None:
    assert valid_prompt(value) is ok
