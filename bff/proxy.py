"""`ANY /api/{path}`: the authenticated, streaming reverse proxy to the resource API."""

import logging
import re
import uuid
from urllib.parse import unquote_to_bytes

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from bff.context import BFF
from bff.guards import cross_site, csrf_ok
from bff.oidc import ProviderUnavailable
from bff.pages import json_error
from bff.refresh import RefreshFailed
from bff.session.model import Session

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1 (Connection) plus the classic RFC 2616 §13.5.1 list
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# never forwarded: the browser's credentials (the token is ours to add) and anything
# that lets the browser speak for the proxy
_DROP_REQUEST = HOP_BY_HOP | {
    "host",
    "cookie",
    "authorization",
    "x-csrf",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "x-request-id",
}
_DROP_RESPONSE = HOP_BY_HOP | {"set-cookie", "set-cookie2", "x-request-id"}
_IDEMPOTENT_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token', re.IGNORECASE)


def path_problem(raw: bytes) -> str | None:
    """Why the raw path (after `/api/`) may not be forwarded, or None.

    Percent-encoded dots, slashes and backslashes, NUL and `..` would let a path climb out
    of the API prefix at a server that decodes differently (RFC 3986 §6.2.2.3). Checked
    after one and two rounds of decoding, so double encoding does not slip through.
    """
    if b"\\" in raw or b"\x00" in raw:
        return "backslash or NUL in path"
    segments = raw.split(b"/")
    for index, segment in enumerate(segments):
        if segment == b"" and 0 < index < len(segments) - 1:
            return "empty path segment"
        once = unquote_to_bytes(segment)
        twice = unquote_to_bytes(once)
        for decoded in (once, twice):
            if decoded in (b".", b"..") or b"/" in decoded or b"\\" in decoded:
                return "dot segment or encoded separator in path"
            if any(c < 0x20 or c == 0x7F for c in decoded):
                return "control character in path"
    return None


def _forward_headers(
    request: Request, token: str, request_id: str, bff: BFF
) -> list[tuple[bytes, bytes]]:
    raw = request.scope["headers"]
    named: set[bytes] = set()
    for name, value in raw:
        if name == b"connection":  # RFC 9110 §7.6.1: headers it names are hop-by-hop too
            named.update(v.strip().lower() for v in value.split(b","))
    out = [
        (name, value)
        for name, value in raw
        if name.decode("latin-1") not in _DROP_REQUEST and name not in named
    ]
    client = request.scope.get("client")
    out += [
        (b"authorization", b"Bearer " + token.encode()),
        (b"x-forwarded-for", (client[0] if client else "unknown").encode()),
        (b"x-forwarded-proto", bff.public_scheme),
        (b"x-forwarded-host", bff.public_host),
        (b"x-request-id", request_id.encode()),
    ]
    return out


def _response_headers(upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
    raw = upstream.headers.raw
    named: set[bytes] = set()
    for name, value in raw:
        if name.lower() == b"connection":
            named.update(v.strip().lower() for v in value.split(b","))
    return [
        (name.lower(), value)
        for name, value in raw
        if name.lower().decode("latin-1") not in _DROP_RESPONSE and name.lower() not in named
    ]


def request_id_of(request: Request) -> str:
    for name, value in request.scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return str(value.decode())
    return uuid.uuid4().hex


async def proxy(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    if cross_site(request.headers):
        return json_error(403, "forbidden", error_description="cross-site request refused")
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    rest = raw_path[len(b"/api") :].lstrip(b"/") if raw_path.startswith(b"/api") else b""
    problem = path_problem(rest)
    if problem:
        return json_error(400, "invalid_path", error_description=problem)

    cookies = bff.cookies_of(request)
    current = await bff.sessions.load(cookies)
    if current is None:
        response = json_error(401, "unauthenticated", login_url="/auth/login")
        bff.add_cookies(response, await bff.sessions.clear(cookies))
        return response
    if not csrf_ok(request.method, request.headers):
        return json_error(403, "csrf", error_description="X-CSRF: 1 header required")

    session, dirty = current.session, current.dirty
    refreshed = False
    if bff.refresher.due(session):
        outcome = await _refresh(bff, session, cookies)
        if isinstance(outcome, Response):
            return outcome
        session, dirty, refreshed = outcome, True, True

    request_id = request_id_of(request)
    url = bff.upstream_target(rest, request.scope["query_string"])
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    for attempt in (0, 1):
        # httpx.Request, not client.build_request: the client's default headers (its
        # User-Agent, Accept-Encoding, Connection) must not be mixed into the browser's.
        upstream_request = httpx.Request(
            request.method,
            url,
            headers=_forward_headers(request, session.access_token, request_id, bff),
            content=request.stream() if has_body else None,
            extensions={"timeout": bff.upstream_timeout},
        )
        try:
            upstream = await bff.upstream.handle_async_request(upstream_request)
        except httpx.TimeoutException:
            logger.warning("upstream timed out")
            return json_error(504, "upstream_timeout")
        except httpx.HTTPError as exc:
            logger.warning("upstream unreachable: %s", type(exc).__name__)
            return json_error(502, "upstream_unavailable")
        retry = (
            attempt == 0
            and not refreshed
            and upstream.status_code == 401
            and request.method in _IDEMPOTENT_NO_BODY
            and _INVALID_TOKEN.search(upstream.headers.get("www-authenticate", ""))
            and session.refresh_token
        )
        if not retry:
            break
        # RFC 6750 §3.1 invalid_token: the token may have been revoked or rotated early;
        # refresh once and retry once (only bodiless idempotent requests can be replayed).
        await upstream.aclose()
        outcome = await _refresh(bff, session, cookies)
        if isinstance(outcome, Response):
            return outcome
        session, dirty, refreshed = outcome, True, True

    headers = _response_headers(upstream)
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
    if dirty:
        bff.add_cookies(streamed, await bff.save_quietly(session, cookies))
    return streamed


class RelayedResponse(Response):
    """Streams an upstream body of known length to the client, then closes it."""

    def __init__(self, upstream: httpx.Response) -> None:
        self.status_code = upstream.status_code
        self.background = None
        self._upstream = upstream

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
                async for chunk in self._upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._upstream.aclose()


async def _refresh(bff: BFF, session: Session, cookies: dict[str, str]) -> Session | Response:
    try:
        return await bff.refresher.refresh(session)
    except RefreshFailed:
        response = json_error(401, "session_expired", login_url="/auth/login")
        bff.add_cookies(response, await bff.sessions.end(session, cookies))
        return response
    except ProviderUnavailable as exc:
        if session.access_expires_at > bff.clock():
            return session  # still valid: use it, refresh on a later request
        status = 504 if exc.timeout else 502
        return json_error(status, "provider_unavailable")
