"""Login through the provider's own pages, then /auth/me."""

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack


def test_full_login_then_me(stack: E2EStack, browser: Browser) -> None:
    landing = browser.login("alice", return_to="/")
    assert landing.status_code == 200, browser.pages
    assert str(landing.url) == f"{stack.bff_url}/"

    me = browser.me()
    assert me.status_code == 200
    body = me.json()
    assert body["sub"] == "alice"
    assert body["name"] == "Alice Liddell"
    assert body["email"] == "alice@example.test"
    assert body["groups"] == []
    assert body["session"]["expires_at"]
    # No token ever reaches the browser.
    assert "token" not in me.text.lower()


def test_admin_carries_the_admin_group(browser: Browser) -> None:
    browser.login("admin")
    assert browser.me().json()["groups"] == ["admin"]


def test_no_session_is_401(browser: Browser) -> None:
    assert browser.me().status_code == 401
    unauth = browser.api("GET", "/products")
    assert unauth.status_code == 401
    assert unauth.json()["error"] == "unauthenticated"
