"""Unit tests for `bff.csrf` beyond the attack matrix."""

import pytest

from bff.csrf import csrf_ok


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
