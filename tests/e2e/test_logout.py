"""RP-initiated logout through the BFF, and back-channel logout delivered by the provider."""

from urllib.parse import parse_qs, urlsplit

from tests.e2e.browser import Browser, forms
from tests.e2e.stack import E2EStack


def test_rp_initiated_logout(stack: E2EStack, browser: Browser, user_name: str) -> None:
    browser.login(user_name)
    assert browser.me().status_code == 200

    assert browser.client.post(f"{stack.bff_url}/auth/logout").status_code == 403  # CSRF
    out = browser.logout()
    assert out.status_code == 200, out.text
    logout_url = out.json()["logout_url"]
    assert logout_url.startswith(f"{stack.issuer}/session/end")
    query = parse_qs(urlsplit(logout_url).query)
    assert query["id_token_hint"]
    assert query["post_logout_redirect_uri"][0].startswith(stack.bff_url)

    # The BFF session is over at once, before the provider page is even visited.
    assert browser.me().status_code == 401
    assert browser.api("GET", "/products").status_code == 401

    back = browser.confirm_provider_logout(logout_url)
    assert str(back.url).startswith(stack.bff_url)
    # The provider session is over too: the next login shows the login form again.
    page = browser.navigate(f"{stack.bff_url}/auth/login?returnTo=/")
    assert str(page.url).startswith(stack.issuer)
    assert 'name="login"' in page.text


def test_backchannel_logout_ends_the_bff_session(
    stack: E2EStack, browser: Browser, user_name: str
) -> None:
    browser.login(user_name)
    assert browser.api("GET", "/products").status_code == 200
    before = stack.provider_stats()["backchannel_success"]

    # Sign out at the provider only (as another app or the provider's own page would): the
    # provider delivers a logout token to the BFF; the browser keeps its BFF cookie.
    page = browser.navigate(f"{stack.issuer}/session/end")
    (form,) = forms(page.text)
    browser.submit(page, form, {"logout": "yes"})

    assert stack.provider_stats()["backchannel_success"] == before + 1
    assert browser.me().status_code == 401
    expired = browser.api("GET", "/products")
    assert expired.status_code == 401
