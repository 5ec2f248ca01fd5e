"""The resource API's error tree and its translation to HTTP, done only here (STYLE rule 6).

Every error body is `{"error": CODE, "error_description": TEXT}` (SPEC, RFC 6750 §3).
Database outages become 503 with `Retry-After`; anything unexpected is a bare 500 whose
details go to the log only.
"""

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5  # seconds a client should wait when the database is unreachable
# what cannot stand inside a quoted-string of a challenge: quotes, backslashes, non-ASCII
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\]')


def bearer_challenge(
    error: str | None = None, description: str | None = None, scope: str | None = None
) -> str:
    """A `WWW-Authenticate` Bearer challenge (RFC 6750 §3): bare without arguments, else
    with `error`, `scope` and `error_description` (at most 200 characters), in that order,
    each stripped of what cannot stand in a quoted-string."""
    params = []
    if error is not None:
        params.append(f'error="{_UNSAFE_IN_QUOTES.sub("", error)}"')
    if scope is not None:
        params.append(f'scope="{_UNSAFE_IN_QUOTES.sub("", scope)}"')
    if description is not None:
        params.append(f'error_description="{_UNSAFE_IN_QUOTES.sub("", description)[:200]}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


class ApiError(Exception):
    status_code = 400
    error = "invalid_request"

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status_code = 401
    error = "invalid_token"


class MissingCredentials(Unauthorized):
    error = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    error = "forbidden"


class InsufficientScope(ApiError):
    status_code = 403
    error = "insufficient_scope"


class NotFound(ApiError):
    status_code = 404
    error = "not_found"


class Conflict(ApiError):
    status_code = 409
    error = "conflict"


class PreconditionFailed(ApiError):
    status_code = 412
    error = "precondition_failed"


class Unavailable(ApiError):
    status_code = 503
    error = "temporarily_unavailable"


class ErrorBody(BaseModel):
    """Every error answer (SPEC: `{"error": CODE, "error_description": TEXT}`)."""

    error: str
    error_description: str


_DESCRIPTIONS = {
    400: "invalid request (body, path or query)",
    401: "missing or invalid bearer token (see WWW-Authenticate)",
    403: "not permitted, or insufficient_scope",
    404: "no such row visible to the caller",
    409: "conflict with a concurrent change",
    412: "If-Match does not match the current ETag",
    413: "request body over 1 MiB",
    503: "database or identity provider unavailable (see Retry-After)",
}


def error_responses(*extra: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the error answers of a protected route."""
    codes = sorted({400, 401, 403, 503, *extra})
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False
        )
        for code in codes
    }


def _body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def _response(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        _body(error, description),
        status_code=status,
        headers=headers or {},
        media_type=MediaType.JSON,
    )


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return _response(exc.status_code, exc.error, exc.description, exc.headers)


_HTTP_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        logger.error("internal error: %s", exc.detail)
        return _response(500, "server_error", "internal error")
    description = str(exc.detail)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        problems = []
        for item in exc.extra:
            if isinstance(item, dict):
                key = item.get("key")
                message = item.get("message", "invalid")
                problems.append(f"{key}: {message}" if key else str(message))
        if problems:
            description = "; ".join(problems)
    return _response(
        status, _HTTP_CODES.get(status, "invalid_request"), description, dict(exc.headers or {})
    )


# SQLSTATE classes (PostgreSQL manual, appendix A) of a server that cannot serve us now:
# 08 connection exception, 53 insufficient resources (53300 too_many_connections),
# 57 operator intervention (57P03 cannot_connect_now at every restart or failover, 57014
# query_canceled: statement timeout), 3D invalid catalog name (no such database),
# 28 invalid authorization (wrong role or password). Retrying later may well succeed.
_OUTAGE_CLASSES = frozenset({"08", "53", "57", "3D", "28"})
# of those, the ones an operator must fix: the database URL names a database or
# credentials the server does not know
_MISCONFIGURED_CLASSES = frozenset({"3D", "28"})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE a database error carries (asyncpg's, through SQLAlchemy's wrapper)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc.__cause__, exc):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | DisconnectionError | OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        code = sqlstate(exc)
        if exc.connection_invalidated or (code is not None and code[:2] in _OUTAGE_CLASSES):
            return True
    return isinstance(exc, OSError | TimeoutError)


def database_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, IntegrityError):
        # e.g. a row added to a product deleted a moment before
        logger.info("integrity conflict: %s", type(exc.orig).__name__)
        return _response(409, "conflict", "the request conflicts with a concurrent change")
    if is_database_outage(exc):
        code = sqlstate(exc)
        if code is not None and code[:2] in _MISCONFIGURED_CLASSES:
            # the server's message may name the role; the code and class say enough
            logger.error(
                "database refuses the configured database or credentials (SQLSTATE %s): "
                "check API_DATABASE_URL",
                code,
            )
        else:
            logger.warning("database unavailable: %s (SQLSTATE %s)", type(exc).__name__, code)
        return _response(
            503,
            "temporarily_unavailable",
            "the database is unavailable, retry later",
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    return unexpected_error_handler(_, exc)


def unexpected_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # the traceback stays in the log; the client learns nothing about internals
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _response(500, "server_error", "internal error")


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    DBAPIError: database_error_handler,
    PoolTimeout: database_error_handler,
    DisconnectionError: database_error_handler,
    OSError: database_error_handler,
    TimeoutError: database_error_handler,
    Exception: unexpected_error_handler,
}
