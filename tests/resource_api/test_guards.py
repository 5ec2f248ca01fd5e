"""guards.py: no caller on the connection (the auth middleware skips OPTIONS) is a 401,
never a 500; OPTIONS on any route, with or without a token, is never a 5xx."""

import re

import httpx
import pytest
from litestar import Litestar

from resource_api.app import create_app
from resource_api.settings import Settings
from tests.resource_api.world import World


def _paths(app: Litestar, world: World) -> list[str]:
    """Every route of the app, with real ids in its path parameters."""
    ids = {"product_id": world.ids["P_shared"], "inventory_id": world.ids["I_shared"]}
    ids["user_id"] = world.ids["bob"]
    paths = []
    for route in app.routes:
        paths.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m.group(1), "x"), route.path))
    return paths


@pytest.mark.parametrize("actor", ["anon", "owner", "admin", "svc_read", "bad"])
async def test_options_is_never_a_server_error(
    client: httpx.AsyncClient, world: World, settings: Settings, actor: str
) -> None:
    paths = _paths(create_app(settings), world)
    assert "/admin/users" in paths
    for path in paths:
        response = await client.options(path, headers=world.headers[actor])
        assert response.status_code < 500, (path, response.status_code, response.text)


async def test_options_on_a_guarded_router_without_token_is_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/admin/users")
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("path", ["/products", "/admin/users", "/me"])
async def test_options_needs_a_token(client: httpx.AsyncClient, world: World, path: str) -> None:
    assert (await client.options(path)).status_code == 401
    allowed = await client.options(path, headers=world.headers["admin"])
    assert allowed.status_code == 204, allowed.text
    assert "GET" in allowed.headers["allow"]
    member = await client.options("/admin/users", headers=world.headers["member"])
    assert member.status_code == 403


async def test_health_options_stays_public(client: httpx.AsyncClient) -> None:
    assert (await client.options("/health")).status_code == 204
