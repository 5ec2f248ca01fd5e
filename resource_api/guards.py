"""Route-level guards: what kind of caller may reach a route at all.

Row-level decisions (owner, household, admin) live in `access.py`; guards only look at
the caller, which the authentication middleware put on the connection, and at the scopes
its token holds (`scopes.py`).
"""

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from resource_api.auth import Caller
from resource_api.errors import (
    Forbidden,
    InsufficientScope,
    MissingCredentials,
    bearer_challenge,
)
from resource_api.scopes import READ_SCOPE, scope_for
from resource_api.settings import Settings

Connection = ASGIConnection[Any, Any, Any, Any]


def _caller(connection: Connection) -> Caller:
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


def _require_scope(caller: Caller, scope: str) -> None:
    if scope not in caller.principal.scopes:
        # RFC 6750 §3.1: insufficient_scope, naming the scope needed
        description = f"the {scope} scope is required"
        challenge = bearer_challenge("insufficient_scope", description, scope=scope)
        raise InsufficientScope(description, headers={"WWW-Authenticate": challenge})


def _user_scope(connection: Connection, caller: Caller) -> None:
    """With `API_ENFORCE_SCOPES=true`, a user needs the scope of the request's method."""
    settings: Settings = connection.app.state.settings
    if settings.enforce_scopes and not caller.is_service:
        # no method (a WebSocket, which this API has none of): the stricter write scope
        _require_scope(caller, scope_for(str(connection.scope.get("method", ""))))


def readers(connection: Connection, _: BaseRouteHandler) -> None:
    """Users, and service principals holding `inventory:read`."""
    caller = _caller(connection)
    if caller.is_service:
        _require_scope(caller, READ_SCOPE)
    _user_scope(connection, caller)


def users(connection: Connection, _: BaseRouteHandler) -> None:
    """Signed-in users only: service principals never write (SPEC)."""
    caller = _caller(connection)
    if caller.is_service:
        raise Forbidden("service principals may only read")
    _user_scope(connection, caller)


def admins(connection: Connection, _: BaseRouteHandler) -> None:
    caller = _caller(connection)
    _user_scope(connection, caller)
    if caller.is_service or not caller.is_admin:
        raise Forbidden("the admin role is required")
