"""`Upstream`: the resource API as the proxy sees it, its base URL, timeouts and transport.

Requests go straight to the pooled transport (no client-level cookie, auth or redirect
handling on the hot path); httpx's errors become `UpstreamTimeout`/`UpstreamUnavailable`.
"""

import logging
from collections.abc import AsyncIterable

import httpx

from bff.errors import InvalidPath, UpstreamTimeout, UpstreamUnavailable
from bff.proxy.headers import RawHeaders

logger = logging.getLogger(__name__)

#: connect timeout of the upstream, in seconds (read/write/pool: BFF_UPSTREAM_TIMEOUT_S)
CONNECT_TIMEOUT_S = 5.0
#: readiness probes are short (2 seconds)
READY_TIMEOUT = httpx.Timeout(2.0)
#: parsed target URLs kept (SPAs repeat their paths)
MAX_TARGETS = 1024
# RFC 9110 §9.2.2: idempotent requests may be retried when the connection fails
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: what a pooled keep-alive connection the upstream closed as it was reused looks like
_STALE_CONNECTION = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class Upstream:
    def __init__(
        self, base_url: str, transport: httpx.AsyncBaseTransport, *, timeout_s: float
    ) -> None:
        self._transport = transport
        self._timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S).as_dict()
        self._url = httpx.URL(base_url)
        self._prefix = self._url.raw_path.split(b"?", 1)[0].rstrip(b"/") + b"/"
        self._targets: dict[bytes, httpx.URL] = {}

    def target(self, path: bytes, query: bytes) -> httpx.URL:
        """The upstream URL for a checked path; parsed URLs are memoised. Raises
        `InvalidPath` when httpx cannot make a URL of it."""
        raw = self._prefix + path + (b"?" + query if query else b"")
        url = self._targets.get(raw)
        if url is None:
            try:
                url = self._url.copy_with(raw_path=raw)
            except httpx.InvalidURL:
                raise InvalidPath("not a forwardable URL") from None
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            self._targets[raw] = url
        return url

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: RawHeaders,
        body: AsyncIterable[bytes] | None,
    ) -> httpx.Response:
        """The upstream's streamed response. Raises `UpstreamTimeout`, `UpstreamUnavailable`."""
        # httpx.Request, not client.build_request: a client's default headers (its
        # User-Agent, Accept-Encoding, Connection) must not be mixed into the browser's.
        request = httpx.Request(
            method, url, headers=headers, content=body, extensions={"timeout": self._timeout}
        )
        try:
            try:
                return await self._transport.handle_async_request(request)
            except _STALE_CONNECTION:
                # The upstream may close an idle keep-alive connection just as it is reused
                # (uvicorn after 5 s): a bodiless idempotent request is sent once more, on a
                # new connection. A body is streamed once, so it is never replayed.
                if body is not None or method not in _IDEMPOTENT:
                    raise
                return await self._transport.handle_async_request(request)
        except httpx.TimeoutException:
            logger.warning("upstream timed out")
            raise UpstreamTimeout() from None
        except httpx.HTTPError as exc:
            logger.warning("upstream unreachable: %s", type(exc).__name__)
            raise UpstreamUnavailable(type(exc).__name__) from None

    async def probe(self) -> str:
        """Readiness: "ok" when `GET {upstream}/health` answers below 500, else why not."""
        probe = httpx.Request(
            "GET",
            self._url.copy_with(raw_path=self._prefix + b"health"),
            extensions={"timeout": READY_TIMEOUT.as_dict()},
        )
        try:
            answer = await self._transport.handle_async_request(probe)
            await answer.aclose()
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return "ok" if answer.status_code < 500 else f"HTTP {answer.status_code}"
