# ruff: noqa: E501  (the matrix reads best as one row per endpoint)
"""Every endpoint x every actor against the status SPEC's table demands, with
`API_ENFORCE_SCOPES` off (the default) and on."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.resource_api.conftest import bearer, make_settings, serve_app, user_token
from tests.resource_api.world import ACTORS, insert_world
from tests.support.tokens import TokenFactory

# one app for the whole module (building one costs ~50 ms); each case gets a fresh world
pytestmark = pytest.mark.asyncio(loop_scope="module")

# actor order:  owner admin member other loner svc_read svc_none anon bad
UNAUTH = (401, 401)
MATRIX: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, ...]]] = [
    ("me", "GET", "/me", None, (200, 200, 200, 200, 200, 403, 403, *UNAUTH)),
    ("list", "GET", "/products", None, (200, 200, 200, 200, 200, 200, 403, *UNAUTH)),
    ("create", "POST", "/products", {"name": "x"}, (201, 201, 201, 201, 201, 403, 403, *UNAUTH)),
    ("read shared", "GET", "/products/{P_shared}", None, (200, 200, 200, 404, 404, 200, 403, *UNAUTH)),
    ("read private", "GET", "/products/{P_private}", None, (200, 200, 404, 404, 404, 200, 403, *UNAUTH)),
    ("patch shared", "PATCH", "/products/{P_shared}", {"name": "y"}, (200, 200, 403, 404, 404, 403, 403, *UNAUTH)),
    ("patch private", "PATCH", "/products/{P_private}", {"name": "y"}, (200, 200, 404, 404, 404, 403, 403, *UNAUTH)),
    ("delete shared", "DELETE", "/products/{P_shared}", None, (204, 204, 403, 404, 404, 403, 403, *UNAUTH)),
    ("delete private", "DELETE", "/products/{P_private}", None, (204, 204, 404, 404, 404, 403, 403, *UNAUTH)),
    ("rows shared", "GET", "/products/{P_shared}/inventory", None, (200, 200, 200, 404, 404, 200, 403, *UNAUTH)),
    ("rows private", "GET", "/products/{P_private}/inventory", None, (200, 200, 404, 404, 404, 200, 403, *UNAUTH)),
    ("add row shared", "POST", "/products/{P_shared}/inventory", {"quantity": 2}, (201, 201, 403, 404, 404, 403, 403, *UNAUTH)),
    ("add row private", "POST", "/products/{P_private}/inventory", {"quantity": 2}, (201, 201, 404, 404, 404, 403, 403, *UNAUTH)),
    ("row shared", "GET", "/inventory/{I_shared}", None, (200, 200, 200, 404, 404, 200, 403, *UNAUTH)),
    ("row private", "GET", "/inventory/{I_private}", None, (200, 200, 404, 404, 404, 200, 403, *UNAUTH)),
    ("row hidden", "GET", "/inventory/{I_hidden}", None, (200, 200, 404, 404, 404, 200, 403, *UNAUTH)),
    ("qty shared", "PATCH", "/inventory/{I_shared}", {"quantity": 3}, (200, 200, 200, 404, 404, 403, 403, *UNAUTH)),
    ("unshare shared", "PATCH", "/inventory/{I_shared}", {"is_household_shared": False}, (200, 200, 403, 404, 404, 403, 403, *UNAUTH)),
    ("qty private", "PATCH", "/inventory/{I_private}", {"quantity": 3}, (200, 200, 404, 404, 404, 403, 403, *UNAUTH)),
    ("delete row shared", "DELETE", "/inventory/{I_shared}", None, (204, 204, 403, 404, 404, 403, 403, *UNAUTH)),
    ("delete row private", "DELETE", "/inventory/{I_private}", None, (204, 204, 404, 404, 404, 403, 403, *UNAUTH)),
    ("admin users", "GET", "/admin/users", None, (403, 200, 403, 403, 403, 403, 403, *UNAUTH)),
    ("admin household", "POST", "/admin/households", {"name": "H3"}, (403, 201, 403, 403, 403, 403, 403, *UNAUTH)),
    ("admin assign", "PUT", "/admin/users/{dave}/household", {"household_id": "{H2}"}, (403, 200, 403, 403, 403, 403, 403, *UNAUTH)),
    ("admin remove", "DELETE", "/admin/users/{bob}/household", None, (403, 204, 403, 403, 403, 403, 403, *UNAUTH)),
    ("health", "GET", "/health", None, (200,) * len(ACTORS)),
]  # fmt: skip

CASES = [
    pytest.param(method, path, body, actor, expected[i], id=f"{name}-{actor}")
    for name, method, path, body, expected in MATRIX
    for i, actor in enumerate(ACTORS)
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix_client(
    database_url: str, tokens: TokenFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(make_settings(database_url), tokens) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body", "actor", "expected"), CASES)
async def test_status(
    matrix_client: httpx.AsyncClient,
    tokens: TokenFactory,
    pg_database: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    actor: str,
    expected: int,
) -> None:
    world = await insert_world(pg_database, tokens)
    response = await matrix_client.request(
        method, _fill(path, world.ids), json=_fill(body, world.ids), headers=world.headers[actor]
    )
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert set(response.json()) == {"error", "error_description"}
    if expected == 401:
        challenge = response.headers["www-authenticate"]
        if actor == "anon":
            assert challenge == "Bearer"
        else:
            assert challenge.startswith('Bearer error="invalid_token", error_description="')
    service_readable = method == "GET" and path.startswith(("/products", "/inventory"))
    if actor == "svc_none" and service_readable:
        assert response.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


# ---------------------------------------------------------------- API_ENFORCE_SCOPES=true

READ, WRITE = "inventory:read", "inventory:write"
#: with enforced scopes: who (owner alice or admin root) holding which scopes
SCOPED = {
    "owner_none": ("owner", "openid profile"),
    "owner_read": ("owner", f"openid {READ}"),
    "owner_write": ("owner", f"openid {WRITE}"),
    "owner_both": ("owner", f"{READ} {WRITE}"),
    "admin_read": ("admin", READ),
    "admin_write": ("admin", WRITE),
    "svc_read": ("svc_read", ""),  # services: as without enforcement
    "svc_none": ("svc_none", ""),
}


def _scoped_expectation(method: str, actor: str, unscoped: int) -> tuple[int, str | None]:
    """SPEC: users need inventory:read to read and inventory:write to write; else 403
    insufficient_scope naming the scope. Returns the status and the scope named."""
    who, held = SCOPED[actor]
    if who.startswith("svc"):
        return unscoped, None
    needed = READ if method in ("GET", "HEAD", "OPTIONS") else WRITE
    return (unscoped, None) if needed in held.split() else (403, needed)


SCOPED_CASES = [
    pytest.param(method, path, body, actor, *_scoped_expectation(method, actor, expected[ACTORS.index(SCOPED[actor][0])]), id=f"{name}-{actor}")
    for name, method, path, body, expected in MATRIX
    if path != "/health"
    for actor in SCOPED
]  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scoped_client(
    database_url: str, tokens: TokenFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(make_settings(database_url, enforce_scopes="true"), tokens) as client:
        yield client


@pytest.fixture(scope="module")
def scoped_headers(tokens: TokenFactory) -> dict[str, dict[str, str]]:
    users = {"owner": ("alice", ()), "admin": ("root", ("admin",))}
    headers = {}
    for actor, (who, held) in SCOPED.items():
        if who in users:
            sub, groups = users[who]
            headers[actor] = bearer(user_token(tokens, sub, groups=groups, scope=held))
    return headers


@pytest.mark.parametrize(("method", "path", "body", "actor", "expected", "scope"), SCOPED_CASES)
async def test_status_with_enforced_scopes(
    scoped_client: httpx.AsyncClient,
    scoped_headers: dict[str, dict[str, str]],
    tokens: TokenFactory,
    pg_database: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    actor: str,
    expected: int,
    scope: str | None,
) -> None:
    world = await insert_world(pg_database, tokens)
    headers = scoped_headers.get(actor) or world.headers[SCOPED[actor][0]]
    response = await scoped_client.request(
        method, _fill(path, world.ids), json=_fill(body, world.ids), headers=headers
    )
    assert response.status_code == expected, response.text
    if scope is not None:
        # RFC 6750 §3.1: insufficient_scope, with the scope the request needs
        assert response.json()["error"] == "insufficient_scope"
        assert scope in response.json()["error_description"]
        assert response.headers["www-authenticate"].startswith(
            f'Bearer error="insufficient_scope", scope="{scope}"'
        )


async def test_health_needs_no_scope(scoped_client: httpx.AsyncClient) -> None:
    assert (await scoped_client.get("/health")).json() == {"status": "ok"}
