"""Unit tests for `bff.login.return_to` (returnTo and prompt) beyond the attack matrix."""

import pytest

from bff.login.return_to import safe_return_to, valid_prompt


@pytest.mark.parametrize(
    "value", ["/", "/products", "/products?id=7&x=%20y", "/a/b#frag", "/caf%C3%A9", "/a:b"]
)
def test_return_to_accepted(value: str) -> None:
    assert safe_return_to(value) == value


def test_return_to_default() -> None:
    assert safe_return_to(None) == "/"
    assert safe_return_to("") == "/"


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
