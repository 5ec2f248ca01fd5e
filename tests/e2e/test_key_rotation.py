"""Session key rotation across a BFF restart, as SPEC describes: put the new key first and
keep the old one after it (sessions survive and are resealed with the new key); remove the
old key (sessions sealed with it end)."""

from collections.abc import Iterator

import pytest

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack, new_session_key, running_stack


@pytest.fixture(scope="module")
def rotating() -> Iterator[E2EStack]:
    with running_stack("key-rotation") as running:
        yield running


def _cookies(browser: Browser) -> dict[str, str]:
    return {c.name: c.value for c in browser.client.cookies.jar}


def test_key_rotation_across_restart(rotating: E2EStack) -> None:
    key_a = rotating.session_keys
    key_b = new_session_key("e2e2")

    with Browser(rotating.bff_url) as old, Browser(rotating.bff_url) as resealed:
        old.login("alice")
        assert old.me().status_code == 200
        # A second browser with the same A-sealed cookies, which will follow the reseal.
        for name, value in _cookies(old).items():
            resealed.client.cookies.set(name, value, domain="127.0.0.1")
        sealed_with_a = _cookies(old)

        rotating.restart_bff(f"{key_b},{key_a}")
        me = resealed.me()
        assert me.status_code == 200, me.text
        assert me.json()["sub"] == "alice"
        assert _cookies(resealed) != sealed_with_a, "the session was not resealed with key B"
        assert resealed.api("GET", "/products").status_code == 200

        rotating.restart_bff(key_b)
        assert resealed.me().status_code == 200  # sealed with B: still a session
        # Still sealed with A only: no session any more.
        for name, value in sealed_with_a.items():
            old.client.cookies.set(name, value, domain="127.0.0.1")
        assert old.me().status_code == 401
