"""`ANY /api/{path}`: the authenticated, streaming reverse proxy to the resource API."""

import functools
import logging
import re
from urllib.parse import unquote_to_bytes

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from bff.context import BFF
from bff.errors import (
    CrossSite,
    CSRFRequired,
    InvalidPath,
    ProviderUnavailable,
    RefreshFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bff.guards import cross_site, csrf_ok
from bff.logs import request_id
from bff.responses import error_json, with_cookies
from bff.session.model import Session

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1 (Connection) plus the classic RFC 2616 §13.5.1 list
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# never forwarded: the browser's credentials (the token is ours to add) and anything
# that lets the browser speak for the proxy
_DROP_REQUEST = HOP_BY_HOP | {
    b"host",
    b"cookie",
    b"authorization",
    b"x-csrf",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-real-ip",
    b"x-request-id",
    # routing and method overrides some frameworks honour: they would let a request
    # reach another path or method than the one the BFF checked
    b"x-original-url",
    b"x-rewrite-url",
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
}
# Upstream headers that would act on the BFF's own origin, not just on this response:
# cookies, a service-worker scope, wiping the origin's storage (and our session cookie),
# CORS grants (the BFF is same-origin only), a timed navigation.
_DROP_RESPONSE = HOP_BY_HOP | {
    b"set-cookie",
    b"set-cookie2",
    b"x-request-id",
    b"service-worker-allowed",
    b"clear-site-data",
    b"refresh",
    b"x-content-type-options",
}
_ACCESS_CONTROL = b"access-control-"
#: added to every proxied response: no MIME sniffing into HTML, no framing or scripts if
#: a browser ever renders one as a document (CSP Level 3 `sandbox`)
_ADD_RESPONSE = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox; default-src 'none'; frame-ancestors 'none'"),
]
#: when the upstream says nothing: tokens authorised this answer, no shared cache may keep it
_DEFAULT_CACHE_CONTROL = (b"cache-control", b"private, no-store")
# RFC 9110 §9.2.2; a request is replayed only without a body (bodies are streamed once)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: fixed-length bodies above this are relayed with a disconnect watcher (64 KiB)
WATCH_ABOVE_BYTES = 64 * 1024
_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token', re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def path_problem(raw: bytes) -> str | None:
    """Why the raw path (after `/api/`) may not be forwarded, or None.

    A pure function of `raw` (SPAs repeat their paths), so its answers are cached.

    Percent-encoded dots, slashes and backslashes, NUL, `..` and `..;` would let a path climb out
    of the API prefix at a server that decodes differently (RFC 3986 §6.2.2.3). Checked
    after one and two rounds of decoding, so double encoding does not slip through.
    """
    if b"\\" in raw or b"\x00" in raw:
        return "backslash or NUL in path"
    if raw.startswith(b"/"):
        return "empty path segment"
    # RFC 3986 §3.3: printable ASCII only; '#' would start a fragment (h11 lets it in)
    if any(c < 0x21 or c > 0x7E or c == 0x23 for c in raw):
        return "character not allowed in a path"
    segments = raw.split(b"/")
    for index, segment in enumerate(segments):
        if segment == b"" and 0 < index < len(segments) - 1:
            return "empty path segment"
        once = unquote_to_bytes(segment)
        twice = unquote_to_bytes(once)
        for decoded in (once, twice):
            # `..;/x`: servers that strip matrix parameters (Tomcat) see `..` (RFC 3986 §3.3)
            dots = decoded.split(b";", 1)[0]
            if dots in (b".", b"..") or b"/" in decoded or b"\\" in decoded:
                return "dot segment or encoded separator in path"
            if any(c < 0x20 or c == 0x7F for c in decoded):
                return "control character in path"
    return None


def query_problem(query: bytes) -> str | None:
    """Why the raw query may not be forwarded, or None: printable ASCII without '#'."""
    if any(c < 0x21 or c > 0x7E or c == 0x23 for c in query):
        return "character not allowed in the query"
    return None


def _response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = [h for h in _strip(raw, _DROP_RESPONSE) if not h[0].startswith(_ACCESS_CONTROL)]
    if not any(name == b"cache-control" for name, _ in headers):
        headers.append(_DEFAULT_CACHE_CONTROL)
    return [*headers, *_ADD_RESPONSE]


def _strip(raw: list[tuple[bytes, bytes]], drop: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    """`raw` without the `drop` headers and those a `Connection` header names (RFC 9110
    §7.6.1: they are hop-by-hop too, so a client cannot smuggle one past us)."""
    named = {
        v.strip().lower()
        for n, value in raw
        if n.lower() == b"connection"
        for v in value.split(b",")
    }
    return [
        (lower, value)
        for name, value in raw
        if (lower := name.lower()) not in drop and lower not in named
    ]


def _forward_headers(request: Request, token: str, bff: BFF) -> list[tuple[bytes, bytes]]:
    client = request.scope.get("client")
    return [
        *_strip(request.scope["headers"], _DROP_REQUEST),
        (b"authorization", b"Bearer " + token.encode()),
        (b"x-forwarded-for", (client[0] if client else "unknown").encode()),
        (b"x-forwarded-proto", bff.public_scheme),
        (b"x-forwarded-host", bff.public_host),
        # the RequestIdMiddleware's id: the browser's when sane, else a fresh one
        (b"x-request-id", request_id.get().encode()),
    ]


async def proxy(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    if cross_site(request.headers):
        return error_json(CrossSite())
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    # routed on the decoded path: `/%61pi/x` reaches us too, but only the raw form says
    # what would be forwarded
    if raw_path != b"/api" and not raw_path.startswith(b"/api/"):
        return error_json(InvalidPath("path must start with /api/"))
    rest = raw_path[len(b"/api/") :]
    query = request.scope["query_string"]
    problem = path_problem(rest) or query_problem(query)
    if problem:
        return error_json(InvalidPath(problem))

    cookies = bff.cookies_of(request)
    current = await bff.sessions.load(cookies)
    if current is None:
        return await bff.unauthenticated(cookies)
    if not csrf_ok(request.method, request.headers):
        return error_json(CSRFRequired())

    session, dirty = current.session, current.dirty
    refreshed = False
    #: Set-Cookie lines of a session written right after its refresh: they go on whatever
    #: response this request ends with
    saved: list[str] = []
    started = bff.clock()
    if bff.refresher.due(session):
        outcome = await _refresh(bff, session, cookies)
        if isinstance(outcome, Response):
            return outcome
        refreshed = True
        if outcome is not session:
            session, dirty, saved = outcome, False, await bff.sessions.write_back(outcome, cookies)

    try:
        url = bff.upstream_target(rest, query)
    except httpx.InvalidURL:
        return error_json(InvalidPath("not a forwardable URL"), saved)
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    for attempt in (0, 1):
        # httpx.Request, not client.build_request: the client's default headers (its
        # User-Agent, Accept-Encoding, Connection) must not be mixed into the browser's.
        upstream_request = httpx.Request(
            request.method,
            url,
            headers=_forward_headers(request, session.access_token, bff),
            content=request.stream() if has_body else None,
            extensions={"timeout": bff.upstream_timeout},
        )
        try:
            upstream = await bff.upstream.handle_async_request(upstream_request)
        except httpx.TimeoutException:
            logger.warning("upstream timed out")
            return error_json(UpstreamTimeout(), saved)
        except httpx.HTTPError as exc:
            logger.warning("upstream unreachable: %s", type(exc).__name__)
            return error_json(UpstreamUnavailable(type(exc).__name__), saved)
        retry = (
            attempt == 0
            and not refreshed
            and upstream.status_code == 401
            and request.method in _IDEMPOTENT
            and not has_body
            and _INVALID_TOKEN.search(upstream.headers.get("www-authenticate", ""))
            and session.refresh_token
        )
        if not retry:
            break
        # RFC 6750 §3.1 invalid_token: the token may have been revoked or rotated early;
        # refresh once and retry once.
        await upstream.aclose()
        outcome = await _refresh(bff, session, cookies)
        if isinstance(outcome, Response):
            return outcome
        refreshed = True
        if outcome is not session:
            session, dirty, saved = outcome, False, await bff.sessions.write_back(outcome, cookies)

    headers = _response_headers(upstream.headers.raw)
    streamed: Response
    if "content-length" in upstream.headers:
        # a bounded body: relay it chunk by chunk without a disconnect watcher
        streamed = RelayedResponse(upstream)
    else:
        # open-ended (SSE, chunked): Starlette's StreamingResponse stops on disconnect
        streamed = StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
    streamed.raw_headers = headers
    # A touch only moves the idle clock; after a slow upstream it is stale news, and a
    # refresh may have completed meanwhile: leave the cookie to a later request.
    touch_only = not refreshed and not current.stale_key
    if dirty and not (touch_only and bff.clock() - started >= bff.sessions.touch_interval_s):
        saved = await bff.sessions.write_back(session, cookies)
    return with_cookies(streamed, saved)


class RelayedResponse(Response):
    """Streams an upstream body of known length to the client, then closes it.

    A body above `WATCH_ABOVE_BYTES` is relayed with a disconnect watcher (the ASGI server
    drops what is sent after a disconnect, silently): a client that leaves stops the
    upstream read. Small bodies skip the watcher's task, the common, cheap case.
    """

    def __init__(self, upstream: httpx.Response) -> None:
        self.status_code = upstream.status_code
        self.background = None
        self._upstream = upstream
        length = upstream.headers.get("content-length", "")
        self._watch = not length.isdigit() or int(length) > WATCH_ABOVE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] != "HEAD":
                if self._watch:
                    if not await self._relay_until_disconnect(receive, send):
                        return
                else:
                    await self._relay(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._upstream.aclose()

    async def _relay(self, send: Send) -> None:
        async for chunk in self._upstream.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _relay_until_disconnect(self, receive: Receive, send: Send) -> bool:
        """False when the client went away before the body was complete."""
        gone = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self._relay(send)
            group.cancel_scope.cancel()
        return not gone


async def _refresh(bff: BFF, session: Session, cookies: dict[str, str]) -> Session | Response:
    try:
        return await bff.refresher.refresh(session)
    except RefreshFailed as exc:
        return error_json(exc, await bff.sessions.end(session, cookies))
    except ProviderUnavailable as exc:
        if session.access_expires_at > bff.clock():
            return session  # still valid: use it, refresh on a later request
        return error_json(exc)
