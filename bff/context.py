"""`BFF`: the per-application objects every route needs, built once by `create_app`."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response

from bff.cookies import CookiePolicy, parse_cookie_header
from bff.errors import Unauthenticated
from bff.oidc import Provider
from bff.refresh.refresher import Refresher
from bff.responses import error_json
from bff.session.manager import SessionManager
from bff.session.replay import OneTimeMarkers
from bff.session.revocation import RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings
from bff.transaction import Transactions

logger = logging.getLogger(__name__)


@dataclass
class BFF:
    settings: Settings
    clock: Callable[[], float]
    policy: CookiePolicy
    sessions: SessionManager
    store: SessionStore
    revocations: RevocationList
    markers: OneTimeMarkers
    transactions: Transactions
    provider: Provider
    refresher: Refresher
    #: the proxy's pooled transport to the resource API
    upstream: httpx.AsyncBaseTransport
    # derived from `settings` in __post_init__
    upstream_timeout: dict[str, float | None] = field(init=False)
    upstream_url: httpx.URL = field(init=False)
    upstream_prefix: bytes = field(init=False)
    public_scheme: bytes = field(init=False)
    public_host: bytes = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.upstream_timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0).as_dict()
        self.upstream_url = httpx.URL(settings.upstream_url)
        self.upstream_prefix = self.upstream_url.raw_path.split(b"?", 1)[0].rstrip(b"/") + b"/"
        public = urlsplit(settings.public_url)
        self.public_scheme = public.scheme.encode()
        self.public_host = public.netloc.encode()
        self._targets: dict[bytes, httpx.URL] = {}

    def upstream_target(self, path: bytes, query: bytes) -> httpx.URL:
        """The upstream URL for a checked path; parsed URLs are memoised (SPAs repeat them)."""
        raw = self.upstream_prefix + path + (b"?" + query if query else b"")
        url = self._targets.get(raw)
        if url is None:
            url = self.upstream_url.copy_with(raw_path=raw)
            if len(self._targets) >= 1024:
                self._targets.clear()
            self._targets[raw] = url
        return url

    def cookies_of(self, request: Request) -> dict[str, str]:
        # HTTP/2 may split the Cookie header (RFC 9113 §8.2.3): join them back
        values = [v for n, v in request.scope["headers"] if n == b"cookie"]
        if not values:
            return {}
        return parse_cookie_header(b"; ".join(values).decode("latin-1"))

    async def unauthenticated(self, cookies: dict[str, str]) -> Response:
        """401 for a request without a valid session; leftover session cookies go."""
        return error_json(Unauthenticated(), await self.sessions.clear(cookies))
