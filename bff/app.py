"""`create_app(settings)`: the BFF as a Starlette application."""

import contextlib
import http.cookiejar
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from bff.cookies import CookiePolicy
from bff.errors import StoreUnavailable
from bff.health import Health
from bff.keyring import KeyRing
from bff.login.backchannel import BackChannelLogout
from bff.login.routes import LoginRoutes
from bff.login.transaction import Transactions
from bff.logs import RequestIdMiddleware
from bff.oidc import Provider
from bff.proxy.handler import Proxy
from bff.proxy.headers import Forwarding
from bff.proxy.upstream import Upstream
from bff.refresh.redis import RedisRefreshResults
from bff.refresh.refresher import LockWait, Refresher, cache_ttl
from bff.refresh.results import MemoryRefreshResults, RefreshResults
from bff.responses import error_json, error_page
from bff.session.cookie import CookieSessionStore
from bff.session.manager import SessionManager
from bff.session.redis import (
    RedisKeys,
    RedisOneTimeMarkers,
    RedisRevocationList,
    RedisSessionStore,
    connect,
)
from bff.session.replay import MemoryOneTimeMarkers, OneTimeMarkers
from bff.session.revocation import MemoryRevocationList, RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings
from bff.spa import SPAStaticFiles
from shared import JWKSCache, MetadataCache, SharedError, TokenVerifier
from shared.clock import Clock, system_clock
from shared.fetch import RetryPolicy

logger = logging.getLogger(__name__)


class RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """The provider client's jar keeps no cookie and sends none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: provider calls (discovery, JWKS, token, revocation): 10 s overall, 5 s to connect
PROVIDER_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: how long a client should wait before retrying while the session store is away, in seconds
STORE_RETRY_AFTER_S = 5


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """Redis (sessions, revocations, one-time markers, the refresh lock) is unreachable.

    Fail closed: without the store no session can be trusted (a revocation may be missed),
    but it is the store's outage, not the user's session that ended: 503, never 500 and
    never a logout (RFC 9110 §15.6.4 with Retry-After)."""
    logger.warning("session store unavailable: %s", type(exc).__name__)
    error = StoreUnavailable()
    response: Response
    if request.url.path in ("/auth/login", "/auth/callback"):  # browser navigations
        response = error_page(error)
    else:
        response = error_json(error)
    response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
    return response


async def _nothing() -> None:
    return None


@dataclass
class Backends:
    """Where sessions, revocations, one-time markers and refresh results live."""

    store: SessionStore
    revocations: RevocationList
    markers: OneTimeMarkers
    refresh_results: RefreshResults
    aclose: Callable[[], Awaitable[None]] = _nothing


def build_backends(
    settings: Settings, ring: KeyRing, policy: CookiePolicy, clock: Clock
) -> Backends:
    """With `BFF_REDIS_URL` set, revocations, one-time markers and refresh coordination live
    in Redis whatever the session store (SPEC: "also used for shared refresh locks and
    logout revocations"), so a logout or a refresh on one instance holds on every other
    one and across restarts. Without it they are per process."""
    url = settings.redis_url.get_secret_value()
    if not url:
        return Backends(
            store=CookieSessionStore(ring, policy),
            revocations=MemoryRevocationList(clock),
            markers=MemoryOneTimeMarkers(clock),
            refresh_results=MemoryRefreshResults(clock),
        )
    client = connect(url)
    keys = RedisKeys(settings.redis_prefix)
    store: SessionStore = (
        RedisSessionStore(client, ring, policy, keys)
        if settings.session_store == "redis"
        else CookieSessionStore(ring, policy)
    )
    return Backends(
        store=store,
        revocations=RedisRevocationList(client, keys),
        markers=RedisOneTimeMarkers(client, keys),
        refresh_results=RedisRefreshResults(client, ring, keys),
        aclose=client.aclose,
    )


def create_app(
    settings: Settings,
    *,
    http_client: httpx.AsyncClient | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = system_clock,
    retry: RetryPolicy | None = None,
    lock_wait: LockWait | None = None,
) -> Starlette:
    """Build the app: the one place where the feature objects are made and wired.

    `http_client` (provider calls), `upstream_transport` (the proxy), `clock`, `retry`
    (provider fetches) and `lock_wait` (waiting on another instance's refresh) are seams
    for tests. The proxy sends through its pooled transport directly (no client-level
    cookie, auth or redirect handling on the hot path); the provider calls go through an
    `httpx.AsyncClient` with a pool of their own, so a token refresh never queues behind a
    burst of slow upstream requests for a connection.
    """
    client, upstream, owned = _http(settings, http_client, upstream_transport)
    ring = KeyRing(settings.session_keys)
    policy = CookiePolicy(secure=settings.secure_cookies, samesite=settings.cookie_samesite)
    backends = build_backends(settings, ring, policy, clock)
    provider = _provider(settings, client, clock, retry)
    refresher = Refresher(
        provider,
        backends.refresh_results,
        margin_s=settings.refresh_margin_s,
        clock=clock,
        cache_ttl_s=cache_ttl(settings.upstream_timeout_s),
        lock_wait=lock_wait or LockWait(),
    )
    sessions = SessionManager(
        backends.store,
        backends.revocations,
        max_age_s=settings.session_max_age_s,
        idle_s=settings.session_idle_s,
        clock=clock,
        catch_up=refresher.catch_up,
    )
    login = LoginRoutes(
        provider=provider,
        transactions=Transactions(ring, policy, clock),
        sessions=sessions,
        markers=backends.markers,
        refresher=refresher,
        clock=clock,
    )
    backchannel = BackChannelLogout(
        provider=provider,
        markers=backends.markers,
        revocations=backends.revocations,
        session_max_age_s=settings.session_max_age_s,
        clock=clock,
    )
    proxy = Proxy(
        sessions=sessions,
        refresher=refresher,
        upstream=upstream,
        forwarding=Forwarding(settings.public_url),
        clock=clock,
    )
    health = Health(
        metadata=provider.metadata,
        upstream_probe=upstream.probe,
        store=backends.store,
        revocations=backends.revocations,
    )
    routes = _routes(login, backchannel, proxy, health, SPAStaticFiles(settings.static_dir))
    lifespan = _lifespan(provider.metadata, [*owned, backends.aclose])
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={RedisError: store_unavailable},
        lifespan=lifespan,
    )
    app.state.backends = backends
    app.state.cookie_policy = policy
    return app


Close = Callable[[], Awaitable[None]]


def _http(
    settings: Settings,
    http_client: httpx.AsyncClient | None,
    upstream_transport: httpx.AsyncBaseTransport | None,
) -> tuple[httpx.AsyncClient, Upstream, list[Close]]:
    """The provider's client, the upstream, and what of them this app opened (and closes
    when it stops; a test's client or transport stays the test's)."""
    pool = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        trust_env=False,
    )
    client = http_client or httpx.AsyncClient(
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        timeout=PROVIDER_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
    )
    # a shared client must never carry one user's cookies into another's request
    client.cookies.jar.set_policy(RejectAllCookies())
    upstream = Upstream(
        settings.upstream_url, upstream_transport or pool, timeout_s=settings.upstream_timeout_s
    )
    owned: list[Close] = [client.aclose] if http_client is None else []
    owned += [pool.aclose] if upstream_transport is None else []
    return client, upstream, owned


def _routes(
    login: LoginRoutes,
    backchannel: BackChannelLogout,
    proxy: Proxy,
    health: Health,
    spa: SPAStaticFiles,
) -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET", "HEAD"]),
        Route("/readyz", health.readyz, methods=["GET", "HEAD"]),
        Route("/auth/login", login.login, methods=["GET"]),
        Route("/auth/callback", login.callback, methods=["GET"]),
        Route("/auth/me", login.me, methods=["GET"]),
        Route("/auth/logout", login.logout, methods=["POST"]),
        Route("/auth/backchannel-logout", backchannel.handle, methods=["POST"]),
        Route("/api", proxy.handle, methods=API_METHODS),
        Route("/api/{path:path}", proxy.handle, methods=API_METHODS),
        Mount("/", app=spa),
    ]


def _provider(
    settings: Settings, client: httpx.AsyncClient, clock: Clock, retry: RetryPolicy | None
) -> Provider:
    metadata = MetadataCache(settings.oidc_issuer, client, clock=clock, retry=retry)
    verifier = TokenVerifier(
        JWKSCache(client, metadata.jwks_uri, clock=clock, retry=retry),
        issuer=settings.oidc_issuer,
        clock=clock,
    )
    return Provider(settings, client, metadata, verifier, clock)


Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]


def _lifespan(metadata: MetadataCache, closers: list[Close]) -> Lifespan:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await metadata.get()  # warm up; /readyz reports if the provider is down
        except SharedError as exc:
            logger.warning("provider metadata not loaded at start: %s", exc.description)
        try:
            yield
        finally:
            for close in closers:
                await close()

    return lifespan
