"""The request id and the access line of both services, as one raw-ASGI middleware.

- `X-Request-ID` (SPEC "Observability"): an incoming id that matches
  `[A-Za-z0-9._:-]{8,128}` is kept, so the id the BFF forwards is the API's too;
  anything else (absent, too short or long, other characters, sent twice) is replaced
  by a fresh one, which the application then sees in its request headers as well.
- The id lives in a context variable for the request's duration: `RequestIdFilter`
  puts it on every log record (`%(request_id)s`), `current_request_id()` reads it to
  forward upstream. Outside a request it is `-`.
- The response carries the id (`X-Request-ID`), exactly once.
- One access line per request on the logger the application names: method, path,
  status, duration. Never the query string: `/auth/callback?code=...&state=...`, and a
  careless client's `?access_token=...` (RFC 6750 §2.3), would put secrets in the log.

No web framework is imported; any ASGI application (Starlette, Litestar) can be wrapped.
Only `http` scopes are touched: lifespan and WebSocket scopes pass through unchanged.
"""

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from shared.logsafe import log_text

__all__ = [
    "HEADER",
    "MAX_PATH_CHARS",
    "RequestIdFilter",
    "RequestLogMiddleware",
    "current_request_id",
    "is_sane_request_id",
    "loggable_path",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
# Each framework types scopes and messages its own way (Litestar: TypedDict unions that
# no one mapping type accepts), so at the boundary an ASGI callable takes `Any`: the
# middleware then wraps, and stands in for, a Starlette or a Litestar application alike.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

#: the header, as ASGI spells header names (lower case)
HEADER = b"x-request-id"
#: paths longer than this are cut in the access line (characters)
MAX_PATH_CHARS = 256

# SPEC "Observability": what an incoming id must look like to be kept
_SANE = re.compile(rb"[A-Za-z0-9._:-]{8,128}")
_NO_REQUEST = "-"
_current: ContextVar[str] = ContextVar("request_id", default=_NO_REQUEST)


def current_request_id() -> str:
    """The id of the request being served (`-` outside one), e.g. to forward upstream."""
    return _current.get()


def is_sane_request_id(value: bytes) -> bool:
    """Whether an incoming `X-Request-ID` value is kept: `[A-Za-z0-9._:-]{8,128}`."""
    return _SANE.fullmatch(value) is not None


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`; install it on handlers (`%(request_id)s` in formats)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


def loggable_path(scope: Scope) -> str:
    """The request path as sent (percent-encoding kept), never the query string,
    escaped for one log line and cut at `MAX_PATH_CHARS`."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "backslashreplace")
    # ASGI's raw_path excludes the query, but some servers have put it there
    path = raw.split(b"?", 1)[0].decode("latin-1")
    return log_text(path, MAX_PATH_CHARS)


def _request_id(scope: Scope) -> str:
    """The kept or fresh id; a fresh one also replaces the request's own headers."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    given = [value for name, value in headers if name == HEADER]
    # two ids would leave each hop to pick its own (the first here, the last there)
    if len(given) == 1 and is_sane_request_id(given[0]):
        return given[0].decode("ascii")
    fresh = uuid.uuid4().hex
    scope["headers"] = [*(h for h in headers if h[0] != HEADER), (HEADER, fresh.encode())]
    return fresh


class RequestLogMiddleware:
    """`X-Request-ID` handling and the access line around an ASGI application.

    `access_logger` names the access log (`bff.access`, `resource_api.access`); its
    lines are INFO records written while the request id is still set, so they carry it
    too. `timer` (seconds, monotonic) is injectable for tests.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_logger: str | logging.Logger,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self._log = (
            access_logger
            if isinstance(access_logger, logging.Logger)
            else logging.getLogger(access_logger)
        )
        self._timer = timer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        echoed = (HEADER, request_id.encode("ascii"))
        # what the server answers when the application fails before it responds
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # exactly one id: ours, whatever the application (or an upstream it
                # relays) put there
                headers = [h for h in message.get("headers", ()) if h[0].lower() != HEADER]
                message["headers"] = [*headers, echoed]
            await send(message)

        token = _current.set(request_id)
        started = self._timer()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # formatting costs only when someone reads the access log
            if self._log.isEnabledFor(logging.INFO):
                self._log.info(
                    "%s %s %d %.1fms",
                    log_text(str(scope.get("method", "")), 32),
                    loggable_path(scope),
                    status,
                    (self._timer() - started) * 1000,
                )
            _current.reset(token)
