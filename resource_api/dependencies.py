"""Per-request dependencies: a database session and the acting identity."""

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api.auth import Caller
from resource_api.identity import Actor, resolve_actor


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


async def provide_actor(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Actor:
    caller = request.user
    assert isinstance(caller, Caller)
    return await resolve_actor(db_session, caller)


DEPENDENCIES = {
    "db_session": Provide(provide_session),
    "actor": Provide(provide_actor),
}
