"""BFF test harness: the real app, a fake provider and a recording upstream, in-process."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.types import Message

from bff.app import create_app
from bff.cookies import CookiePolicy
from bff.keyring import generate_key
from bff.refresh.refresher import LockWait
from bff.settings import Settings
from shared.fetch import RetryPolicy
from tests.bff.fakes import (
    CLIENT_ID,
    ISSUER,
    PUBLIC_URL,
    UPSTREAM,
    FakeProvider,
    RecordingUpstream,
)
from tests.support.clock import FakeClock


async def _no_sleep(_: float) -> None:
    return None


NO_RETRY = RetryPolicy(attempts=1, sleep=_no_sleep)
REDIS_URL = os.environ.get("BFF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def redis_namespace() -> AsyncIterator[tuple[Redis, str]]:
    """A Redis client and a fresh key prefix, whose keys are deleted afterwards.

    Without Redis the test is skipped on a developer's machine, but fails when `CI` is set:
    a Redis test that never runs proves nothing."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {REDIS_URL}, and CI must provide it")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"test:{uuid.uuid4().hex}:"  # a random namespace per test
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_namespace() as namespace:
        yield namespace


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Redis, str] | None]:
    """Runs a contract test twice: in memory (None), then on a Redis namespace."""
    if request.param == "memory":
        yield None
        return
    async with redis_namespace() as namespace:
        yield namespace


class Polling:
    """A refresh-lock waiter's sleep that does not sleep: it records that an instance is
    polling (`started`) and only yields. Used with a `monotonic` that never moves, the
    waiter polls until the lock holder's outcome appears, however long the holder takes;
    `MAX_POLLS` turns a waiter that would poll forever into a failure."""

    MAX_POLLS = 20_000

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.polls = 0

    async def __call__(self, seconds: float) -> None:
        self.started.set()
        self.polls += 1
        if self.polls > self.MAX_POLLS:
            raise AssertionError("still polling for another instance's refresh")
        await asyncio.sleep(0)

    @property
    def lock_wait(self) -> LockWait:
        return LockWait(sleep=self, monotonic=lambda: 0.0)


KEY_A = generate_key("a")
KEY_B = generate_key("b")


def make_settings(static_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": ISSUER,
        "client_id": CLIENT_ID,
        "client_secret": "s3cret",
        "public_url": PUBLIC_URL,
        "session_keys": KEY_A,
        "upstream_url": UPSTREAM,
        "static_dir": static_dir,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Harness:
    clock: FakeClock
    provider: FakeProvider
    upstream: RecordingUpstream
    settings: Settings
    app: Starlette
    client: httpx.AsyncClient
    outbound: httpx.AsyncClient
    static_dir: Path
    upstream_transport: httpx.AsyncBaseTransport | None
    lock_wait: LockWait | None = None

    @property
    def policy(self) -> CookiePolicy:
        policy: CookiePolicy = self.app.state.cookie_policy
        return policy

    async def start_login(self, path: str = "/auth/login", **params: str) -> dict[str, str]:
        response = await self.client.get(path, params=params)
        assert response.status_code == 302, response.text
        return dict(parse_qsl(urlsplit(response.headers["location"]).query))

    async def callback(self, query: dict[str, str], **extra: str) -> httpx.Response:
        return await self.client.get("/auth/callback", params={**query, **extra})

    async def login(self, return_to: str = "/", **approve: Any) -> httpx.Response:
        query = await self.start_login(returnTo=return_to)
        code = self.provider.approve(query, **approve)
        response = await self.callback({"code": code, "state": query["state"], "iss": ISSUER})
        assert response.status_code == 302, response.text
        return response

    def instance(self) -> Starlette:
        """Another BFF instance with the same settings, provider, upstream and clock."""
        return create_app(
            self.settings,
            http_client=self.outbound,
            upstream_transport=self.upstream_transport,
            clock=self.clock,
            retry=NO_RETRY,
            lock_wait=self.lock_wait,
        )

    def rebuild(self, **overrides: Any) -> None:
        """The same browser and provider, a BFF restarted with other settings."""
        self.settings = make_settings(self.static_dir, **overrides)
        self.app = self.instance()
        self.client._transport = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 4711))

    def session_cookies(self) -> dict[str, str]:
        jar = self.client.cookies.jar
        return {c.name: c.value for c in jar if "bff-session" in c.name and c.value is not None}

    async def api(self, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF": "1", **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)


def build_harness(
    tmp_path: Path,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    lock_wait: LockWait | None = None,
    **overrides: Any,
) -> Harness:
    clock = FakeClock()
    provider = FakeProvider(clock)
    upstream = RecordingUpstream()
    outbound = httpx.AsyncClient(mounts={ISSUER: httpx.ASGITransport(app=provider.app)})
    if upstream_transport is None and "upstream_url" not in overrides:
        upstream_transport = httpx.ASGITransport(app=upstream.app)
    static_dir = tmp_path / "static"
    static_dir.mkdir(exist_ok=True)
    (static_dir / "index.html").write_text("<!doctype html><title>spa</title>")
    settings = make_settings(static_dir, **overrides)
    app = create_app(
        settings,
        http_client=outbound,
        upstream_transport=upstream_transport,
        clock=clock,
        retry=NO_RETRY,
        lock_wait=lock_wait,
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4711)),
        base_url=settings.public_url,
    )
    return Harness(
        clock,
        provider,
        upstream,
        settings,
        app,
        client,
        outbound,
        static_dir,
        upstream_transport,
        lock_wait,
    )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = build_harness(tmp_path)
    try:
        yield h
    finally:
        await h.client.aclose()
        await h.outbound.aclose()


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header_names(self) -> set[str]:
        return {k.decode().lower() for k, _ in self.headers}


async def raw_request(
    app: Starlette,
    method: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    *,
    path: str | None = None,
) -> RawResponse:
    """Drive the ASGI app with an exact, un-normalised path (httpx would clean `..`).

    `path` is the decoded path the server routes on (default: `raw_path` as is)."""
    raw, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": raw.decode("latin-1") if path is None else path,
        "raw_path": raw,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"app.test"), *(headers or [])],
        "client": ("203.0.113.7", 4711),
        "server": ("app.test", 443),
        "state": {},
    }
    sent = False
    messages: list[Message] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return RawResponse(start["status"], list(start.get("headers", [])), content)


def cookie_header(cookies: dict[str, str]) -> tuple[bytes, bytes]:
    return (b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode())


async def me_status(harness: Harness, cookies: dict[str, str]) -> int:
    """The status `/auth/me` answers a browser that sends exactly these cookies."""
    response = await raw_request(harness.app, "GET", b"/auth/me", [cookie_header(cookies)])
    return response.status
