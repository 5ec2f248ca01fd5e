"""A database session per request whose end does not hang on Litestar's dependency chain.

Litestar 2.25 closes a generator dependency only when every dependency of the handler
resolved: when `actor` raises after `db_session` opened (a claim the database refuses,
the database going away mid-resolution), the generator is left suspended and its session
keeps a pooled connection until the garbage collector happens to find it; twenty such
requests empty the pool and everyone gets 503. So every session a request opens is also
recorded here, and `SessionScopeMiddleware` closes what is still open when the request
ends, whatever happened in between.
"""

import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar

from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

# the sessions opened by the current request; None outside `SessionScopeMiddleware`
_opened: ContextVar[list[AsyncSession] | None] = ContextVar("db_sessions", default=None)


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    session: AsyncSession = state.sessions()
    opened = _opened.get()
    if opened is not None:
        opened.append(session)
    try:
        yield session
    finally:
        await session.close()
        if opened is not None:
            opened.remove(session)


class SessionScopeMiddleware:
    """Closes, at the end of each HTTP request, the sessions `provide_session` left open."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        opened: list[AsyncSession] = []
        token = _opened.set(opened)
        try:
            await self.app(scope, receive, send)
        finally:
            _opened.reset(token)
            for session in list(opened):
                try:
                    await session.close()  # the connection goes back to the pool
                except Exception as exc:  # a dead connection: the pool discards it
                    logger.warning("closing a request's session failed: %s", type(exc).__name__)
