"""session_scope.py: a request's database connection goes back to the pool even when a
dependency after `db_session` (the actor) fails, without waiting for the GC."""

import gc
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api import dependencies
from resource_api.app import create_app
from resource_api.auth import Caller
from resource_api.db import create_engine
from resource_api.identity import Actor
from resource_api.settings import Settings
from tests.resource_api.conftest import BASE_URL, provider_transport, user_headers
from tests.support.tokens import TokenFactory

FAILURES = 25  # more than the pool (10 + 10 overflow) holds


@pytest.fixture
def no_gc() -> Iterator[None]:
    """A busy server's collector may not run for a while: leave it out entirely."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_failed_actor_resolution_returns_the_connection(
    settings: Settings,
    tokens: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    no_gc: None,
) -> None:
    async def failing(session: AsyncSession, caller: Caller) -> Actor:
        await session.execute(text("SELECT 1"))  # the session holds a connection now
        raise RuntimeError("actor resolution failed")

    monkeypatch.setattr(dependencies, "resolve_actor", failing)
    engine = create_engine(settings.database_url)
    pool = engine.sync_engine.pool
    try:
        async with httpx.AsyncClient(transport=provider_transport(tokens)) as http:
            app = create_app(settings, http_client=http, engine=engine)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as api:
                headers = user_headers(tokens, "alice")
                for _ in range(FAILURES):
                    response = await api.get("/me", headers=headers)
                    assert response.status_code == 500
                    assert pool.checkedout() == 0  # type: ignore[attr-defined]
                monkeypatch.undo()
                healthy = await api.get("/me", headers=headers)
                assert healthy.status_code == 200, healthy.text
                assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
