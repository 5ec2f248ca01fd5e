"""Fixtures of the resource API tests: a throwaway PostgreSQL database per session,
tokens minted by `TokenFactory`, and keys served to the verifier through `MockTransport`.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from resource_api.app import create_app
from resource_api.db import create_engine
from resource_api.migrate import upgrade
from resource_api.settings import Settings, load_settings
from tests.support.pg import database_dsn, sqlalchemy_url, throwaway_database
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory

SERVICE_CLIENT = "svc-reporting"
BASE_URL = "http://api.test"
TOKEN_LIFETIME_S = 3600  # longer than any test session
TABLES = "inventory, household_memberships, products, households, users"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database with a random name, dropped at the end of the session."""
    with throwaway_database("resource_api_test") as name:
        yield name


@pytest.fixture(scope="session")
def database_url(pg_database: str) -> str:
    url = sqlalchemy_url(pg_database)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


def provider_transport(factory: TokenFactory) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if request.url.path == "/jwks":
            return httpx.Response(200, json=factory.jwks())
        return httpx.Response(404)

    return httpx.MockTransport(handler)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": ISSUER,
        "audience": AUDIENCE,
        "database_url": database_url,
        "service_clients": SERVICE_CLIENT,
        "auto_migrate": False,
    }
    values.update(overrides)
    return load_settings(values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def truncate(database: str) -> None:
    connection = await asyncpg.connect(database_dsn(database))
    try:
        # DELETE, not TRUNCATE: on tables this small it takes no exclusive lock and is faster
        async with connection.transaction():
            for table in TABLES.split(", "):
                await connection.execute(f"DELETE FROM {table}")  # noqa: S608 (constant names)
    finally:
        await connection.close()


@asynccontextmanager
async def serve_app(settings: Settings, tokens: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind an in-loop ASGI transport: concurrent requests really run concurrently
    (Litestar's AsyncTestClient serialises them through a blocking portal)."""
    engine = create_engine(settings.database_url)
    async with httpx.AsyncClient(transport=provider_transport(tokens)) as http_client:
        app = create_app(settings, http_client=http_client, engine=engine)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                yield client
        finally:
            await engine.dispose()


@pytest.fixture
async def client(
    settings: Settings, tokens: TokenFactory, pg_database: str
) -> AsyncIterator[httpx.AsyncClient]:
    await truncate(pg_database)
    async with serve_app(settings, tokens) as api:
        yield api


@dataclass(frozen=True)
class Identity:
    """A test caller; `headers` carry its bearer token (or none)."""

    name: str
    headers: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_token(
    tokens: TokenFactory, sub: str, *, groups: tuple[str, ...] = (), scope: str = "openid profile"
) -> str:
    return tokens.mint(
        sub=sub,
        client_id="spa-bff",
        name=sub.title(),
        email=f"{sub}@example.test",
        groups=list(groups),
        scope=scope,
        lifetime_s=TOKEN_LIFETIME_S,
    )


def service_token(tokens: TokenFactory, *, scope: str, client_id: str = SERVICE_CLIENT) -> str:
    # RFC 9068 §2.2: a client-credentials token carries the client's own `sub`
    return tokens.mint(sub=client_id, client_id=client_id, scope=scope, lifetime_s=TOKEN_LIFETIME_S)


def user_headers(tokens: TokenFactory, sub: str, *, groups: tuple[str, ...] = ()) -> dict[str, str]:
    return bearer(user_token(tokens, sub, groups=groups))


@pytest.fixture
async def world(client: httpx.AsyncClient, tokens: TokenFactory, pg_database: str) -> Any:
    from tests.resource_api.world import insert_world

    return await insert_world(pg_database, tokens)
