"""Per-request dependencies: a database session and the acting identity.

The session is closed by its generator when the handler ran, and by
`SessionScopeMiddleware` when a later dependency (`actor`) failed (see session_scope.py).
"""

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api.auth import Caller
from resource_api.identity import Actor, resolve_actor
from resource_api.session_scope import provide_session

#: what a handler names to receive the request's database session / acting identity
Session = NamedDependency[AsyncSession]
Me = NamedDependency[Actor]


async def provide_actor(request: Request[Any, Any, Any], db_session: Session) -> Actor:
    caller = request.user
    assert isinstance(caller, Caller)
    return await resolve_actor(db_session, caller)


DEPENDENCIES = {
    "db_session": Provide(provide_session),
    "actor": Provide(provide_actor),
}
