"""One access-log line per HTTP request: method, path, status, duration.

uvicorn's own access log prints the query string, where a careless client may put a
token (`?access_token=...`, RFC 6750 §2.3, which this API never accepts, but the log
would keep it anyway); it is turned off (`__main__`) and this line, which never includes
the query string, is written instead. It runs inside `RequestIdMiddleware`, so the line
carries the request id like every other record.
"""

import logging
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.logsafe import log_text

logger = logging.getLogger("resource_api.access")

MAX_PATH_CHARS = 256


def loggable_path(scope: Scope) -> str:
    """The request path as sent (percent-encoding kept), never the query string."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "backslashreplace")
    path = raw.split(b"?", 1)[0].decode("latin-1")
    return log_text(path, MAX_PATH_CHARS)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before responding

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            logger.info(
                "%s %s %d %.1fms",
                scope["method"],
                loggable_path(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )
