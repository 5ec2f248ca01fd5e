"""A real browser (Debian's chromium driven by playwright) through the provider's login page
to the demo SPA: create a product and an inventory row, share it, sign out. Screenshots of
each step are kept in test-artifacts/e2e/screenshots/."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import ARTIFACTS, E2EStack

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "screenshots"


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return os.environ.get("CHROMIUM") or found


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[object]:
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            yield page
        finally:
            page.screenshot(path=str(SHOTS / f"{request.node.name}-last.png"), full_page=True)
            context.close()
            browser.close()
        assert not errors, errors


def _shot(page, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_sign_in_create_share_sign_out(stack: E2EStack, page, user_name: str) -> None:
    page.goto(stack.bff_url + "/")
    page.wait_for_selector("[data-testid=signed-out]:not([hidden])")
    _shot(page, "01-signed-out")

    page.click("[data-testid=sign-in]")
    page.wait_for_selector("input[name=login]")
    assert page.url.startswith(stack.issuer)
    page.fill("input[name=login]", user_name)
    page.fill("input[name=password]", "any password")
    _shot(page, "02-provider-login")
    page.click("button[type=submit]")

    page.wait_for_selector("[data-testid=app]:not([hidden])")
    assert page.url.startswith(stack.bff_url)
    assert page.text_content("[data-testid=user-name]") == user_name

    page.fill("[data-testid=product-name]", "Oat milk")
    page.fill("#product-form [name=brand]", "Oatly")
    page.click("[data-testid=add-product]")
    page.wait_for_selector("[data-testid=product-detail]:not([hidden])")
    page.wait_for_selector("[data-testid=product] >> text=Oat milk")

    page.fill("[data-testid=inventory-quantity]", "2")
    page.fill("#inventory-form [name=unit]", "l")
    page.click("[data-testid=add-inventory]")
    page.wait_for_selector("[data-testid=inventory-row]")
    page.click("[data-testid=toggle-shared]")
    page.wait_for_load_state("networkidle")
    assert page.is_checked("[data-testid=toggle-shared]")
    assert page.is_hidden("[data-testid=error]")
    _shot(page, "03-product-created")

    page.click("[data-testid=sign-out]")
    page.wait_for_url(stack.issuer + "/**")
    _shot(page, "04-provider-logout")
    page.click("button[name=logout]")
    page.wait_for_url(stack.bff_url + "/**")
    page.wait_for_selector("[data-testid=signed-out]:not([hidden])")
    _shot(page, "05-signed-out-again")


def test_ended_session_offers_to_sign_in_again(stack: E2EStack, page, user_name: str) -> None:
    page.goto(stack.bff_url + "/")
    page.click("[data-testid=sign-in]")
    page.fill("input[name=login]", user_name)
    page.fill("input[name=password]", "x")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=app]:not([hidden])")
    page.fill("[data-testid=product-name]", "Tea")
    page.click("[data-testid=add-product]")
    page.wait_for_selector("[data-testid=product] >> text=Tea")

    # The session ends behind the page's back (another tab signed out).
    ended = page.request.post(stack.bff_url + "/auth/logout", headers={"X-CSRF": "1"})
    assert ended.ok

    page.click("[data-testid=open-product]")
    page.wait_for_selector("[data-testid=notice]:not([hidden])")
    _shot(page, "06-session-ended")
    page.click("[data-testid=sign-in-again]")
    # Only the BFF session ended; the provider still knows the user and signs them straight
    # back in, so the page comes back with the app and the same data.
    page.wait_for_selector("[data-testid=app]:not([hidden])")
    page.wait_for_selector("[data-testid=product] >> text=Tea")
    assert page.is_hidden("[data-testid=notice]")


def test_admin_puts_two_users_in_a_household(stack: E2EStack, page, user_name: str) -> None:
    from tests.e2e.browser import Browser

    owner, member = f"{user_name}o", f"{user_name}m"
    others = {name: Browser(stack.bff_url) for name in (owner, member)}
    try:
        for name, b in others.items():
            b.login(name)
            assert b.api("GET", "/me").status_code == 200  # now the API knows them

        page.goto(stack.bff_url + "/")
        page.click("[data-testid=sign-in]")
        page.fill("input[name=login]", "admin")
        page.fill("input[name=password]", "x")
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=admin-panel]:not([hidden])")

        page.fill("[data-testid=household-name]", f"Flat {user_name}")
        page.click("[data-testid=create-household]")
        for name, role in ((owner, "owner"), (member, "member")):
            row = page.locator(f"[data-testid=user-row][data-subject={name}]")
            # Wait for the re-render that offers the new household before touching the row.
            row.locator(
                "[data-testid=user-household] option", has_text=f"Flat {user_name}"
            ).wait_for(state="attached")
            row.locator("[data-testid=user-household-role]").select_option(role)
            row.locator("[data-testid=assign-household]").click()
            page.wait_for_load_state("networkidle")
            assert page.is_hidden("[data-testid=error]")
        _shot(page, "07-admin-households")

        household = others[member].api_json("GET", "/me")["household"]
        assert household["name"] == f"Flat {user_name}"
        assert household["role"] == "member"
        assert others[owner].api_json("GET", "/me")["household"]["role"] == "owner"
    finally:
        for b in others.values():
            b.close()
