"""`Proxy`: session -> CSRF -> refresh -> forward -> write back, for `ANY /api/{path}`."""

import re
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.responses import Response

from bff.cookies import cookies_of
from bff.csrf import cross_site, csrf_ok
from bff.errors import (
    BFFError,
    CrossSite,
    CSRFRequired,
    ProviderUnavailable,
    RefreshFailed,
    Unauthenticated,
)
from bff.proxy.headers import Forwarding, response_headers
from bff.proxy.paths import api_target
from bff.proxy.relay import relay
from bff.proxy.upstream import Upstream
from bff.refresh.refresher import Refresher
from bff.responses import error_json, with_cookies
from bff.session.manager import SessionManager
from bff.session.model import Session
from shared.clock import Clock

# RFC 9110 §9.2.2; a request is replayed only without a body (bodies are streamed once)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token', re.IGNORECASE)


@dataclass
class _Exchange:
    """One proxied request's session as it changes on the way through."""

    session: Session
    #: changed since it was loaded (touched, older key): write it back
    dirty: bool
    cookies: dict[str, str]
    #: Set-Cookie lines every answer to this request carries, errors included
    lines: list[str]
    refreshed: bool = False


class Proxy:
    def __init__(
        self,
        *,
        sessions: SessionManager,
        refresher: Refresher,
        upstream: Upstream,
        forwarding: Forwarding,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._refresher = refresher
        self._upstream = upstream
        self._forwarding = forwarding
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        """The route's endpoint: every refusal is JSON (SPEC: API routes never redirect)."""
        lines: list[str] = []
        try:
            response = await self._forward(request, lines)
        except BFFError as exc:
            response = error_json(exc)
        return with_cookies(response, lines)

    async def _forward(self, request: Request, lines: list[str]) -> Response:
        if cross_site(request.headers):
            raise CrossSite()
        rest, query = api_target(request.scope)
        cookies = cookies_of(request)
        current = await self._sessions.load(cookies)
        if current is None:
            lines += await self._sessions.clear(cookies)  # leftover session cookies go
            raise Unauthenticated()
        if not csrf_ok(request.method, request.headers):
            raise CSRFRequired()
        ex = _Exchange(current.session, current.dirty, cookies, lines)
        started = self._clock()
        if self._refresher.due(ex.session):
            await self._refresh(ex)
        url = self._upstream.target(rest, query)
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        upstream = await self._send(request, url, ex.session, has_body)
        replayable = not (ex.refreshed or has_body) and ex.session.refresh_token
        if replayable and _refused(request.method, upstream):
            # RFC 6750 §3.1 invalid_token: the token may have been revoked or rotated early;
            # refresh once and retry once.
            await upstream.aclose()
            await self._refresh(ex)
            upstream = await self._send(request, url, ex.session, has_body)
        response = relay(upstream, response_headers(upstream.headers.raw))
        # A touch only moves the idle clock; after a slow upstream it is stale news, and a
        # refresh may have completed meanwhile: leave the cookie to a later request.
        touch_only = not ex.refreshed and not current.stale_key
        slow = self._clock() - started >= self._sessions.touch_interval_s
        if ex.dirty and not (touch_only and slow):
            lines[:] = await self._sessions.write_back(ex.session, cookies)
        return response

    async def _refresh(self, ex: _Exchange) -> None:
        """New tokens for the exchange's session, written back at once: the provider has
        rotated the refresh token, the old one is spent (RFC 9700 §4.14.2), so the new
        cookie goes on whatever answer follows, errors included. Raises `RefreshFailed`
        (the session has ended) or `ProviderUnavailable` (and the token has expired)."""
        try:
            session = await self._refresher.refresh(ex.session)
        except RefreshFailed:
            ex.lines[:] = await self._sessions.end(ex.session, ex.cookies)
            raise
        except ProviderUnavailable:
            if ex.session.access_expires_at <= self._clock():
                raise
            session = ex.session  # still valid: use it, refresh on a later request
        ex.refreshed = True
        if session is not ex.session:
            ex.session, ex.dirty = session, False
            ex.lines[:] = await self._sessions.write_back(session, ex.cookies)

    async def _send(
        self, request: Request, url: httpx.URL, session: Session, has_body: bool
    ) -> httpx.Response:
        headers = self._forwarding.headers(request.scope, session.access_token)
        body = request.stream() if has_body else None
        return await self._upstream.send(request.method, url, headers, body)


def _refused(method: str, upstream: httpx.Response) -> bool:
    """The upstream refused the token itself (RFC 6750 §3.1), to a replayable request."""
    challenge = upstream.headers.get("www-authenticate", "")
    return (
        upstream.status_code == 401
        and method in _IDEMPOTENT
        and _INVALID_TOKEN.search(challenge) is not None
    )
