"""Household sharing between two users, set up by an admin, all through the BFF."""

import secrets
from collections.abc import Iterator

import pytest

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack


@pytest.fixture
def people(stack: E2EStack) -> Iterator[dict[str, Browser]]:
    tag = secrets.token_hex(3)
    browsers = {name: Browser(stack.bff_url) for name in ("admin", "owner", "member", "outsider")}
    try:
        for role, b in browsers.items():
            b.login("admin" if role == "admin" else f"{role}{tag}")
        yield browsers
    finally:
        for b in browsers.values():
            b.close()


def _user_id(browser: Browser) -> str:
    me = browser.api("GET", "/me")
    assert me.status_code == 200, me.text
    return str(me.json()["user"]["id"])


def _household(admin: Browser, owner: Browser, member: Browser) -> str:
    assert admin.api_json("GET", "/me")["user"]["role"] == "admin"
    hid = str(admin.api_json("POST", "/admin/households", 201, json={"name": "Flat 3"})["id"])
    for browser, role in ((owner, "owner"), (member, "member")):
        assigned = admin.api(
            "PUT",
            f"/admin/users/{_user_id(browser)}/household",
            json={"household_id": hid, "role": role},
        )
        assert assigned.status_code in (200, 201, 204), assigned.text
    assert member.api_json("GET", "/me")["household"]["id"] == hid
    return hid


def test_household_sharing(people: dict[str, Browser]) -> None:
    admin, owner, member, outsider = (people[k] for k in ("admin", "owner", "member", "outsider"))
    _household(admin, owner, member)

    shared_product = owner.api_json("POST", "/products", 201, json={"name": "Rice"})["id"]
    shared_row = owner.api_json(
        "POST",
        f"/products/{shared_product}/inventory",
        201,
        json={"quantity": 1000, "unit": "g", "is_household_shared": True},
    )["id"]
    private_row = owner.api_json(
        "POST", f"/products/{shared_product}/inventory", 201, json={"quantity": 1, "unit": "kg"}
    )["id"]
    private_product = owner.api_json("POST", "/products", 201, json={"name": "Chocolate"})["id"]

    # The member sees the shared product and only its shared row.
    visible = {p["id"] for p in member.api_json("GET", "/products")["items"]}
    assert shared_product in visible
    assert private_product not in visible
    rows = member.api_json("GET", f"/products/{shared_product}/inventory")["items"]
    assert [r["id"] for r in rows] == [shared_row]
    assert member.api("GET", f"/inventory/{private_row}").status_code == 404
    assert member.api("GET", f"/products/{private_product}").status_code == 404

    # ...may change the quantity of the shared row, nothing more.
    used = member.api("PATCH", f"/inventory/{shared_row}", json={"quantity": 750})
    assert used.status_code == 200, used.text
    assert used.json()["quantity"] == 750
    unshare = member.api("PATCH", f"/inventory/{shared_row}", json={"is_household_shared": False})
    assert unshare.status_code == 403
    assert member.api("PATCH", f"/products/{shared_product}", json={"name": "x"}).status_code == 403

    # Someone outside the household sees nothing of it.
    assert outsider.api("GET", f"/products/{shared_product}").status_code == 404
    assert outsider.api("GET", f"/inventory/{shared_row}").status_code == 404

    # The owner turns sharing off: the product disappears for the member.
    off = owner.api("PATCH", f"/inventory/{shared_row}", json={"is_household_shared": False})
    assert off.status_code == 200, off.text
    assert member.api("GET", f"/products/{shared_product}").status_code == 404


def test_household_member_cannot_delete_a_shared_row(people: dict[str, Browser]) -> None:
    admin, owner, member = people["admin"], people["owner"], people["member"]
    _household(admin, owner, member)
    product = owner.api_json("POST", "/products", 201, json={"name": "Pasta"})["id"]
    row = owner.api_json(
        "POST",
        f"/products/{product}/inventory",
        201,
        json={"quantity": 1, "is_household_shared": True},
    )["id"]
    assert member.api("DELETE", f"/inventory/{row}").status_code == 403
    assert owner.api("GET", f"/inventory/{row}").status_code == 200
