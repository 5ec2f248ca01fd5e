"""Database engine and sessions (SQLAlchemy asyncio: asyncpg in production, aiosqlite embedded)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

CONNECT_TIMEOUT_S = 3  # a dead database fails a request fast, as a 503
POOL_TIMEOUT_S = 5  # waiting for a pooled connection


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(session: AsyncSession) -> bool:
    """Whether the session is bound to PostgreSQL (False for an unbound session)."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def dialect_insert(session: AsyncSession) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The INSERT (with ON CONFLICT) of the session's dialect: SQLite's when bound to
    anything else than PostgreSQL, PostgreSQL's otherwise (an unbound session included)."""
    if session.bind is not None and session.bind.dialect.name != "postgresql":
        return sqlite.insert
    return postgresql.insert


def ensure_sqlite_directory(url: str | URL) -> None:
    """Create the directory of a file-backed SQLite database (`./var` by default)."""
    parsed = make_url(url)
    if is_sqlite(parsed) and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, **overrides: Any) -> AsyncEngine:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}  # recover after a database restart
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        kwargs["connect_args"] = {"timeout": 15}  # seconds to wait on a locked database
    else:
        kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 30}
        if "poolclass" not in overrides:
            kwargs.update(pool_size=10, max_overflow=10, pool_timeout=POOL_TIMEOUT_S)
    kwargs.update(overrides)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
