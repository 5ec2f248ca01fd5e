"""Database down: 503 JSON with Retry-After, never a 500; recovery without a restart."""

import asyncio
import contextlib

from tests.resource_api.conftest import make_settings, serve_app, user_headers
from tests.support.tokens import TokenFactory


async def test_closed_port_is_503(tokens: TokenFactory) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    async with serve_app(make_settings(url), tokens) as client:
        response = await client.get("/products", headers=user_headers(tokens, "alice"))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "temporarily_unavailable"


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        self._writers |= {writer, upstream_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_recovers_after_the_database_returns(tokens: TokenFactory, pg_database: str) -> None:
    proxy = TcpProxy()
    await proxy.start()
    # plain TCP through the proxy (no TLS upgrade to relay)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{pg_database}?ssl=disable"
    headers = user_headers(tokens, "alice")
    async with serve_app(make_settings(url), tokens) as api:
        assert (await api.get("/products", headers=headers)).status_code == 200
        await proxy.stop()  # every pooled connection dies with it
        down = await api.get("/products", headers=headers)
        assert down.status_code == 503, down.text
        assert "retry-after" in down.headers
        await proxy.start()  # same port
        up = await api.get("/products", headers=headers)
        assert up.status_code == 200, up.text
    await proxy.stop()
