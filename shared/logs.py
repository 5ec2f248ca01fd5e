"""Log configuration of both services: one JSON object per line, or text for a terminal.

The standard library's `logging` with a JSON formatter, not structlog: every library the
services run (uvicorn, httpx, SQLAlchemy, Litestar) already logs through `logging`, so one
root handler puts all of their lines in the same format with no second pipeline, and the
hot path pays only for the records that are emitted.

Every line carries `ts` (RFC 3339, UTC, milliseconds), `level`, `logger`, `event` (the
message) and `request_id` (`shared.request_log`). Audit events (SPEC "Observability") go to
the logger `audit` with `"audit": true`, a fixed `event` name, an `outcome` and the actor.
Nothing here adds a token, a cookie or a secret: callers pass codes and identifiers only.
"""

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

from shared.logsafe import log_text
from shared.request_log import RequestIdFilter

__all__ = ["AUDIT_LOGGER", "LogFormat", "Outcome", "audit", "configure_logging"]

LogFormat = Literal["json", "text"]
Outcome = Literal["success", "failure", "error"]
#: the logger every audit event goes to (SPEC)
AUDIT_LOGGER = "audit"
#: the attribute `audit()` and `extra={"fields": ...}` put structured fields in
_FIELDS = "fields"
_audit = logging.getLogger(AUDIT_LOGGER)


def _rfc3339(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, _FIELDS, None)
    return fields if isinstance(fields, Mapping) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; structured `fields` become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)  # the fixed keys above cannot be overwritten
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # json.dumps escapes control characters, so a value cannot forge a second line
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger [request id] event key=value ...`, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{key}={log_text(str(value), 200)}" for key, value in _fields(record).items()
        )
        line = (
            f"{_rfc3339(record.created)} {record.levelname} {record.name} "
            f"[{getattr(record, 'request_id', '-')}] {record.getMessage()}"
        )
        if extra:
            line = f"{line} {extra}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(level: str = "INFO", log_format: LogFormat = "json") -> logging.Handler:
    """Send every record (the services', uvicorn's, the libraries') to stderr in one format.

    Raises `ValueError` for an unknown level or format."""
    if log_format not in ("json", "text"):
        raise ValueError(f"unknown log format {log_format!r}")
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's loggers keep handlers of their own unless told not to: route them to root
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.disabled = False
    return handler


def audit(event: str, outcome: Outcome, **fields: Any) -> None:
    """One audit event: a fixed `event` name, its `outcome`, and the actor and detail
    (`iss`, `sub`, `client_id`, `reason`, ...) as fields. Values must not be secrets."""
    if _audit.isEnabledFor(logging.INFO):
        _audit.info(event, extra={_FIELDS: {"audit": True, "outcome": outcome, **fields}})
