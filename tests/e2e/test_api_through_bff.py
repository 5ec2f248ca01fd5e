"""CRUD through the BFF's /api proxy with the CSRF header, as the demo SPA does it."""

from tests.e2e.browser import Browser


def test_product_and_inventory_crud(browser: Browser, user_name: str) -> None:
    browser.login(user_name)

    created = browser.api("POST", "/products", json={"name": "Oat milk", "brand": "Oatly"})
    assert created.status_code == 201, created.text
    product = created.json()
    pid = product["id"]

    listed = browser.api("GET", "/products").json()
    assert [p["id"] for p in listed["items"]] == [pid]

    patched = browser.api("PATCH", f"/products/{pid}", json={"category": "Drinks"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["category"] == "Drinks"

    row = browser.api(
        "POST",
        f"/products/{pid}/inventory",
        json={"quantity": 2, "unit": "l", "location": "fridge"},
    )
    assert row.status_code == 201, row.text
    rid = row.json()["id"]
    etag = row.headers["etag"]

    updated = browser.api(
        "PATCH", f"/inventory/{rid}", json={"quantity": 1.5}, headers={"If-Match": etag}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["quantity"] == 1.5
    stale = browser.api(
        "PATCH", f"/inventory/{rid}", json={"quantity": 1}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412

    rows = browser.api("GET", f"/products/{pid}/inventory").json()["items"]
    assert [r["id"] for r in rows] == [rid]

    assert browser.api("DELETE", f"/inventory/{rid}").status_code == 204
    assert browser.api("DELETE", f"/products/{pid}").status_code == 204
    assert browser.api("GET", f"/products/{pid}").status_code == 404


def test_api_errors_reach_the_browser(browser: Browser, user_name: str) -> None:
    browser.login(user_name)
    bad = browser.api("POST", "/products", json={"name": "x", "colour": "red"})
    assert bad.status_code in (400, 422)
    assert bad.json()["error"]


def test_csrf_header_is_required(browser: Browser, user_name: str) -> None:
    browser.login(user_name)
    url = f"{browser.bff_url}/api/products"
    assert browser.client.post(url, json={"name": "no header"}).status_code == 403
    assert browser.client.get(url).status_code == 403  # no Sec-Fetch-Site: same-origin either
    cross = browser.client.get(url, headers={"X-CSRF": "1", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    same = browser.client.get(url, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200
    # Nothing was created by the refused POST.
    assert browser.api("GET", "/products").json()["items"] == []
