"""Fault injection for the end-to-end stack: cuttable TCP relays and a steady-traffic run.

Every dependency of the stack is reached through a `FaultProxy`: the provider (its public
issuer port is the relay, so the browser, the BFF and the API all lose it together), the
provider's JWKS for the API alone, the resource API (the BFF's upstream), PostgreSQL (the
API's database) and Redis (the BFF's session store). `cut()` drops every open connection
and refuses new ones, as a crashed or restarting server does; `restore()` listens again on
the same port. A relay is used instead of restarting the real PostgreSQL or Redis server,
which other test runs on the machine share: to a client, a restart is exactly this.

`run_fault` drives steady traffic (reads, and a write every few requests) through the BFF
while one dependency is cut and restored, and reports what every request got.
`tests/e2e/test_faults.py` asserts on that report; `bench/faults.py` prints it as a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
import httpx
import redis

from infra.stack import Stack, free_port
from tests.e2e.stack import ARTIFACTS, E2EStack, new_session_key
from tests.support import pg

HOST = "127.0.0.1"
#: the dependencies `fault_stack` can cut, in the order the suite visits them
FAULTS = ("provider", "jwks", "upstream", "postgresql", "redis")


class FaultProxy:
    """A TCP relay from a free loopback port to `target_port`, run in a thread of its own."""

    def __init__(self, target_port: int, *, listen_port: int | None = None) -> None:
        self.target_port = target_port
        self.port = listen_port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread.start()
        self.restore()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    def restore(self) -> None:
        """Listen (again) on the same port."""
        self._call(self._listen())

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        self._call(self._close())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay, HOST, self.port, reuse_address=True
            )

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, not a polite close: the server is gone
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, target_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()
            self._writers.discard(dst)

        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))


@dataclass
class Outcome:
    at: float  # seconds since the run started
    method: str
    status: int  # 0: the BFF itself did not answer
    error: str | None
    retry_after: bool
    name: str | None = None  # the product a write created (or tried to)


@dataclass
class FaultReport:
    fault: str
    cut_at: float
    restored_at: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    def during(self) -> list[Outcome]:
        return [o for o in self.outcomes if self.cut_at <= o.at < self.restored_at]

    def recovery_s(self) -> float | None:
        """From the restore to the first request after which every request succeeded."""
        after = [o for o in self.outcomes if o.at >= self.restored_at]
        last_failure = max((o.at for o in after if not _ok(o)), default=None)
        if last_failure is None:
            return 0.0
        later = [o.at for o in after if o.at > last_failure]
        return (later[0] - self.restored_at) if later else None

    def created(self) -> list[str]:
        return [o.name for o in self.outcomes if o.name and o.status == 201]

    def refused_writes(self) -> list[str]:
        return [o.name for o in self.outcomes if o.name and o.status != 201]

    def server_errors(self) -> list[Outcome]:
        """5xx answers that are not a clear gateway/unavailable answer (500 and friends)."""
        return [o for o in self.outcomes if o.status >= 500 and o.status not in (502, 503, 504)]

    def unavailable_without_retry_after(self) -> list[Outcome]:
        # RFC 9110 §10.2.3: a 503 says when to come back
        return [o for o in self.outcomes if o.status == 503 and not o.retry_after]


def _ok(outcome: Outcome) -> bool:
    return outcome.status in (200, 201)


def run_fault(
    fault: str,
    client: httpx.Client,
    bff_url: str,
    cut: Callable[[], None],
    restore: Callable[[], None],
    *,
    before_s: float = 2.0,
    down_s: float = 4.0,
    after_s: float = 7.0,
    interval_s: float = 0.05,
    write_every: int = 5,
) -> FaultReport:
    """Steady traffic through the BFF at `bff_url` (`client` holds a session): `before_s`
    healthy, the dependency cut for `down_s`, then `after_s` after its return. Bounded."""
    start = time.monotonic()
    report = FaultReport(fault, cut_at=before_s, restored_at=before_s + down_s)
    state = "before"
    count = 0
    while (now := time.monotonic() - start) < before_s + down_s + after_s:
        if state == "before" and now >= report.cut_at:
            cut()
            state = "down"
        elif state == "down" and now >= report.restored_at:
            restore()
            state = "after"
        count += 1
        name = None
        try:
            if count % write_every == 0:
                name = f"fault-{fault}-{uuid.uuid4().hex[:12]}"
                response = client.post(
                    f"{bff_url}/api/products", json={"name": name}, headers={"X-CSRF": "1"}
                )
            else:
                response = client.get(f"{bff_url}/api/products?limit=5", headers={"X-CSRF": "1"})
            error = _error_code(response)
            report.outcomes.append(
                Outcome(
                    now,
                    response.request.method,
                    response.status_code,
                    error,
                    "retry-after" in response.headers,
                    name,
                )
            )
        except httpx.HTTPError as exc:
            report.outcomes.append(
                Outcome(now, "POST" if name else "GET", 0, type(exc).__name__, False, name)
            )
        time.sleep(interval_s)
    if state != "after":
        restore()
    return report


def _error_code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return "not json"
    return str(body.get("error")) if isinstance(body, dict) else "not an object"


#: short access tokens, so refreshes fall inside every outage
ACCESS_TOKEN_TTL_S = 5
REFRESH_MARGIN_S = 2
#: SPEC: recovery within 5 s of the dependency's return
RECOVERY_S = 5.0
PG_PORT = 5432
REDIS_PORT = 6379


@dataclass
class FaultStack:
    e2e: E2EStack
    database: str
    proxies: dict[str, FaultProxy]


@contextmanager
def fault_stack() -> Iterator[FaultStack]:
    """The e2e stack with every dependency behind a `FaultProxy` (BFF on the Redis store)."""
    log_dir = ARTIFACTS / "faults"
    log_dir.mkdir(parents=True, exist_ok=True)
    provider_port, api_port = free_port(), free_port()
    proxies = {
        "provider": FaultProxy(provider_port),
        "jwks": FaultProxy(provider_port),
        "upstream": FaultProxy(api_port),
        "postgresql": FaultProxy(PG_PORT),
        "redis": FaultProxy(REDIS_PORT),
    }
    prefix = f"e2e-faults-{secrets.token_hex(4)}:"
    try:
        with pg.throwaway_database("e2e_faults") as database, Stack() as stack:
            e2e = E2EStack(
                name="faults",
                idp_port=proxies["provider"].port,
                provider_port=provider_port,
                api_port=api_port,
                bff_port=free_port(),
                bff_client_secret=secrets.token_urlsafe(32),
                service_client_secret=secrets.token_urlsafe(32),
                session_keys=new_session_key("faults1"),
                access_token_ttl_s=ACCESS_TOKEN_TTL_S,
                database_url="",
                log_dir=log_dir,
                stack=stack,
                bff_extra_env={
                    "BFF_UPSTREAM_URL": f"http://127.0.0.1:{proxies['upstream'].port}",
                    "BFF_SESSION_STORE": "redis",
                    "BFF_REDIS_URL": f"redis://127.0.0.1:{proxies['redis'].port}/0",
                    "BFF_REDIS_PREFIX": prefix,
                    "BFF_REFRESH_MARGIN_S": str(REFRESH_MARGIN_S),
                },
            )
            stack.start(e2e.provider_spec())
            jwks = urlsplit(
                httpx.get(f"{e2e.issuer}/.well-known/openid-configuration").json()["jwks_uri"]
            )
            e2e.database_url = (
                f"postgresql+asyncpg://postgres@127.0.0.1:{proxies['postgresql'].port}/"
                f"{database}?ssl=disable"  # plain TCP through the relay
            )
            e2e.api_extra_env = {
                "API_JWKS_URL": f"http://127.0.0.1:{proxies['jwks'].port}{jwks.path}"
            }
            stack.start(e2e.api_spec())
            stack.start(e2e.bff_spec())
            yield FaultStack(e2e, database, proxies)
    finally:
        for proxy in proxies.values():
            proxy.close()
        _drop_redis_prefix(prefix)


def _drop_redis_prefix(prefix: str) -> None:
    client = redis.Redis(host="127.0.0.1", port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _names_in_database(database: str, prefix: str) -> list[str]:
    connection = await asyncpg.connect(pg.database_dsn(database))
    try:
        rows = await connection.fetch(
            "SELECT name FROM products WHERE name LIKE $1", prefix.replace("_", r"\_") + "%"
        )
    finally:
        await connection.close()
    return [row["name"] for row in rows]


def stored_names(database: str, prefix: str) -> list[str]:
    """The names of the products in `database` that start with `prefix`."""
    return asyncio.run(_names_in_database(database, prefix))
