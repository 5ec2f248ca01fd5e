"""Logging: a request id on every record, a separate `bff.audit` logger for auth events.

Nothing here ever formats a token, a cookie or a secret; callers log codes and kinds only.
"""

import contextvars
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logsafe import log_text

access = logging.getLogger("bff.access")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def log_code(value: str) -> str:
    """An error code fit for a log line: `[A-Za-z0-9_.-]{1,64}`, else `invalid`."""
    return value if _CODE.match(value) else "invalid"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RequestIdMiddleware:
    """Keeps a sane incoming `X-Request-ID` (else makes one) and echoes it on the response.

    Also writes the access log: method, path and status only. Query strings are left out
    because `/auth/callback`'s carries the authorization code and state.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = next((v for n, v in scope["headers"] if n == b"x-request-id"), b"")
        rid = value if _SANE.match(value) else uuid.uuid4().hex.encode()
        token = request_id.set(rid.decode())
        if rid is not value:
            # the proxy forwards the same id upstream
            headers = [h for h in scope["headers"] if h[0] != b"x-request-id"]
            scope["headers"] = [*headers, (b"x-request-id", rid)]

        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access.isEnabledFor(logging.INFO):
                elapsed_ms = (time.perf_counter() - started) * 1000
                access.info(
                    "%s %s %d %.1fms",
                    log_text(scope["method"], 32),
                    log_text(scope["path"]),
                    status,
                    elapsed_ms,
                )
            request_id.reset(token)
