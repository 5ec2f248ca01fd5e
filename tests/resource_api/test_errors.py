"""errors.py: database states that mean "not now" are 503 with Retry-After, never 500."""

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api import dependencies
from resource_api.auth import Caller
from resource_api.db import create_engine
from resource_api.errors import is_database_outage, sqlstate
from resource_api.identity import Actor
from resource_api.settings import Settings
from tests.resource_api.conftest import make_settings, serve_app, sqlalchemy_url, user_headers
from tests.support.tokens import TokenFactory


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "temporarily_unavailable"


async def test_statement_timeout_is_503(
    client: httpx.AsyncClient, tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(session: AsyncSession, caller: Caller) -> Actor:
        await session.execute(text("SET LOCAL statement_timeout = 1"))  # milliseconds
        await session.execute(text("SELECT pg_sleep(1)"))  # 57014 query_canceled
        raise AssertionError("the statement should have been cancelled")

    monkeypatch.setattr(dependencies, "resolve_actor", slow)
    _assert_503(await client.get("/products", headers=user_headers(tokens, "alice")))


async def test_unknown_database_is_503_and_logged_as_an_error(
    tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(sqlalchemy_url("resource_api_no_such_database"))
    with caplog.at_level(logging.WARNING, logger="resource_api.errors"):
        async with serve_app(settings, tokens) as api:
            _assert_503(await api.get("/products", headers=user_headers(tokens, "alice")))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("3D000" in r.getMessage() for r in errors)


async def test_unknown_role_is_503_without_secrets_in_the_log(
    settings: Settings, tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    url = settings.database_url.replace("postgres@", "nobody_here:s3cret-pw@", 1)
    assert "s3cret-pw" in url
    with caplog.at_level(logging.DEBUG):
        async with serve_app(make_settings(url), tokens) as api:
            _assert_503(await api.get("/products", headers=user_headers(tokens, "alice")))
    assert any(
        r.levelno == logging.ERROR and "SQLSTATE 28" in r.getMessage() for r in caplog.records
    )
    assert "s3cret-pw" not in caplog.text


@pytest.fixture
async def starting_up_server() -> AsyncIterator[int]:
    """A fake PostgreSQL that answers every startup with 57P03 cannot_connect_now, as a
    server does while it starts, restarts or fails over."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(8)  # SSLRequest (or the startup message's length)
        writer.write(b"N")  # no TLS
        await writer.drain()
        await reader.read(1024)  # startup message
        fields = b"SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"
        writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_cannot_connect_now_is_an_outage(starting_up_server: int) -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{starting_up_server}/x")
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert sqlstate(raised.value) == "57P03"
    assert is_database_outage(raised.value)


async def test_cannot_connect_now_is_503(starting_up_server: int, tokens: TokenFactory) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{starting_up_server}/x"
    async with serve_app(make_settings(url), tokens) as api:
        _assert_503(await api.get("/products", headers=user_headers(tokens, "alice")))
