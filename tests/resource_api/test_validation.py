"""Request validation: bad bodies, paths and queries are 400/413 with a clear message."""

import logging
from typing import Any

import httpx
import pytest

from tests.resource_api.world import World


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return str(body["error_description"])


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"name": "tea", "colour": "green"}, "colour"),
        ({"name": "x" * 201}, "200"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({}, "name"),
        ({"name": "tea", "notes": "n" * 2001}, "notes"),
    ],
)
async def test_product_bodies(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], mentions: str
) -> None:
    response = await client.post("/products", json=body, headers=world.headers["owner"])
    assert mentions in _error(response, 400)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"quantity": -1}, "quantity"),
        ({"quantity": "5"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 1, "expires_on": "tomorrow"}, "expires_on"),
        ({"quantity": 1, "is_household_shared": "yes"}, "is_household_shared"),
        ({"quantity": 1, "owner_id": "someone"}, "owner_id"),
    ],
)
async def test_inventory_bodies(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], mentions: str
) -> None:
    path = f"/products/{world.ids['P_shared']}/inventory"
    response = await client.post(path, json=body, headers=world.headers["owner"])
    assert mentions in _error(response, 400)


async def test_infinite_quantity(client: httpx.AsyncClient, world: World) -> None:
    path = f"/products/{world.ids['P_shared']}/inventory"
    headers = {**world.headers["owner"], "Content-Type": "application/json"}
    response = await client.post(path, content=b'{"quantity": 1e400}', headers=headers)
    assert "out of range" in _error(response, 400)


async def test_patch_rejects_nulls_and_unknown_fields(
    client: httpx.AsyncClient, world: World
) -> None:
    h = world.headers["owner"]
    row = f"/inventory/{world.ids['I_shared']}"
    assert "quantity" in _error(await client.patch(row, json={"quantity": None}, headers=h), 400)
    assert "version" in _error(await client.patch(row, json={"version": 9}, headers=h), 400)
    product = f"/products/{world.ids['P_shared']}"
    assert "name" in _error(await client.patch(product, json={"name": None}, headers=h), 400)
    cleared = await client.patch(product, json={"brand": None}, headers=h)
    assert cleared.status_code == 200
    assert cleared.json()["brand"] is None


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'"name"', b"{"])
async def test_malformed_json(client: httpx.AsyncClient, world: World, content: bytes) -> None:
    headers = {**world.headers["owner"], "Content-Type": "application/json"}
    response = await client.post("/products", content=content, headers=headers)
    _error(response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/products/not-a-uuid",
        "/products/123/inventory",
        "/inventory/zzzz",
        "/admin/users/nope/household",
    ],
)
async def test_invalid_uuid_in_path(client: httpx.AsyncClient, world: World, path: str) -> None:
    method = "DELETE" if path.startswith("/admin") else "GET"
    response = await client.request(method, path, headers=world.headers["admin"])
    assert "UUID" in _error(response, 400)


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient, world: World) -> None:
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    headers = {**world.headers["owner"], "Content-Type": "application/json"}
    response = await client.post("/products", content=body, headers=headers)
    _error(response, 413)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "cursor=bogus"])
async def test_bad_list_queries(client: httpx.AsyncClient, world: World, query: str) -> None:
    response = await client.get(f"/products?{query}", headers=world.headers["owner"])
    _error(response, 400)


async def test_keyset_pages_cover_everything_once(client: httpx.AsyncClient, world: World) -> None:
    h = world.headers["owner"]
    for i in range(7):
        assert (
            await client.post("/products", json={"name": f"p{i}"}, headers=h)
        ).status_code == 201
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/products?{query}", headers=h)).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9  # 7 new + P_shared + P_private
    assert seen == sorted(seen)


async def test_member_listing_merges_own_and_shared(
    client: httpx.AsyncClient, world: World
) -> None:
    h = world.headers["member"]
    own = (await client.post("/products", json={"name": "bob's"}, headers=h)).json()["id"]
    items = (await client.get("/products?limit=1", headers=h)).json()
    assert items["items"][0]["id"] == world.ids["P_shared"]
    rest = (await client.get(f"/products?cursor={items['next']}", headers=h)).json()
    assert [p["id"] for p in rest["items"]] == [own]
    assert rest["next"] is None
    rows = (await client.get(f"/products/{world.ids['P_shared']}/inventory", headers=h)).json()
    assert [r["id"] for r in rows["items"]] == [world.ids["I_shared"]]
    owner_rows = await client.get(
        f"/products/{world.ids['P_shared']}/inventory", headers=world.headers["owner"]
    )
    assert len(owner_rows.json()["items"]) == 2


async def test_admin_membership_errors(client: httpx.AsyncClient, world: World) -> None:
    h = world.headers["admin"]
    unknown = "01a20000-0000-7000-8000-000000000000"
    body = {"household_id": world.ids["H1"], "role": "member"}
    _error(await client.put(f"/admin/users/{unknown}/household", json=body, headers=h), 404)
    _error(await client.delete(f"/admin/users/{unknown}/household", headers=h), 404)
    bad_household = {"household_id": unknown, "role": "member"}
    path = f"/admin/users/{world.ids['dave']}/household"
    _error(await client.put(path, json=bad_household, headers=h), 404)
    bad_role = {"household_id": world.ids["H1"], "role": "king"}
    assert "role" in _error(await client.put(path, json=bad_role, headers=h), 400)
    # moving bob from H1 to H2: one household per user
    bob = f"/admin/users/{world.ids['bob']}/household"
    moved = await client.put(bob, json={"household_id": world.ids["H2"]}, headers=h)
    assert moved.status_code == 200
    me = (await client.get("/me", headers=world.headers["member"])).json()
    assert me["household"]["id"] == world.ids["H2"]
    shared = await client.get(
        f"/inventory/{world.ids['I_shared']}", headers=world.headers["member"]
    )
    assert shared.status_code == 404  # no longer in alice's household


async def test_me_and_admin_listing(client: httpx.AsyncClient, world: World) -> None:
    me = (await client.get("/me", headers=world.headers["owner"])).json()
    assert me["user"]["subject"] == "alice"
    assert me["user"]["role"] == "member"
    assert me["household"] == {"id": world.ids["H1"], "name": "H1", "role": "owner"}
    admin = (await client.get("/me", headers=world.headers["admin"])).json()
    assert admin["user"]["role"] == "admin"
    assert admin["household"] is None
    users = (await client.get("/admin/users", headers=world.headers["admin"])).json()
    assert {u["subject"] for u in users["items"]} == {"alice", "bob", "carol", "dave", "root"}


async def test_tokens_never_logged(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for actor in ("owner", "bad", "svc_none"):
        await client.get("/products", headers=world.headers[actor])
    tokens = [h["Authorization"].split()[1] for h in world.headers.values() if h]
    for record in caplog.records:
        text = record.getMessage()
        assert not any(token in text or token[-40:] in text for token in tokens)
