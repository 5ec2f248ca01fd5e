import pytest

from shared.logsafe import log_text


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("invalid_grant", "invalid_grant"),
        ("a\r\nINFO forged", "a\\x0d\\x0aINFO forged"),
        ("x\u2028y\u202ez", "x\\x2028y\\x202ez"),  # line separator, right-to-left override
        ("back\\slash", "back\\x5cslash"),  # an escape cannot be faked
        ("caf\u00e9", "caf\\xe9"),
    ],
)
def test_unsafe_characters_are_escaped(value: str, logged: str) -> None:
    assert log_text(value) == logged


def test_long_values_are_cut_and_marked() -> None:
    assert log_text("a" * 10, limit=4) == "aaaa..."
    assert log_text("a" * 4, limit=4) == "aaaa"
