"""Database down: 503 JSON with Retry-After, never a 500; recovery without a restart."""

from tests.e2e.faults import FaultProxy
from tests.resource_api.conftest import make_settings, serve_app, user_headers
from tests.support.tokens import TokenFactory

PG_PORT = 5432


async def test_closed_port_is_503(tokens: TokenFactory) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    async with serve_app(make_settings(url), tokens) as client:
        response = await client.get("/products", headers=user_headers(tokens, "alice"))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "temporarily_unavailable"


async def test_recovers_after_the_database_returns(
    tokens: TokenFactory, pg_database: str, database_url: str
) -> None:
    # `database_url` migrates the database, so the file also passes on its own
    proxy = FaultProxy(PG_PORT)
    # plain TCP through the proxy (no TLS upgrade to relay)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{pg_database}?ssl=disable"
    headers = user_headers(tokens, "alice")
    async with serve_app(make_settings(url), tokens) as api:
        assert (await api.get("/products", headers=headers)).status_code == 200
        proxy.cut()  # every pooled connection dies with it
        down = await api.get("/products", headers=headers)
        assert down.status_code == 503, down.text
        assert "retry-after" in down.headers
        proxy.restore()  # same port
        up = await api.get("/products", headers=headers)
        assert up.status_code == 200, up.text
    proxy.close()
