"""Route-level guards: what kind of caller may reach a route at all.

Row-level decisions (owner, household, admin) live in `access.py`; guards only look at
the caller, which the authentication middleware put on the connection.
"""

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from resource_api.auth import READ_SCOPE, Caller
from resource_api.errors import (
    Forbidden,
    InsufficientScope,
    MissingCredentials,
    bearer_challenge,
)


def _caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    # Not `connection.user`, which raises (a 500) when no middleware set one: the
    # authentication middleware skips OPTIONS, and a router's guards still run on the
    # OPTIONS handler Litestar generates. No caller there is no credentials.
    caller = connection.scope.get("user")
    if not isinstance(caller, Caller):
        # RFC 6750 §3.1: no credentials, a bare challenge
        raise MissingCredentials(
            "a bearer token is required", headers={"WWW-Authenticate": bearer_challenge()}
        )
    return caller


def readers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Users, and service principals holding `inventory:read`."""
    caller = _caller(connection)
    if caller.is_service and READ_SCOPE not in caller.principal.scopes:
        # RFC 6750 §3.1: insufficient_scope, naming the scope needed
        description = f"the {READ_SCOPE} scope is required"
        challenge = bearer_challenge("insufficient_scope", description, scope=READ_SCOPE)
        raise InsufficientScope(description, headers={"WWW-Authenticate": challenge})


def users(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Signed-in users only: service principals never write (SPEC)."""
    if _caller(connection).is_service:
        raise Forbidden("service principals may only read")


def admins(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    caller = _caller(connection)
    if caller.is_service or not caller.is_admin:
        raise Forbidden("the admin role is required")
