"""Alembic environment (async): runs migrations over the resource API's own engine settings.

The URL is, in order: `config.attributes["database_url"]` (set by `resource_api.migrate`),
`sqlalchemy.url` from the ini file, then `API_DATABASE_URL` / `.env` / the SQLite default.
"""

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import resource_api.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from resource_api.db import create_engine, is_sqlite
from resource_api.settings import database_url_from_env

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else database_url_from_env()


def _configure(**kwargs: object) -> None:
    url = _url()
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(url),  # SQLite alters tables by copying them
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


# Several API instances may start at once: on PostgreSQL one migrates, the others wait for
# this session-level advisory lock and then find nothing left to do.
MIGRATION_LOCK = 0x7265736F  # arbitrary, fixed


async def run_async_migrations() -> None:
    url = _url()
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            locking = not is_sqlite(url)
            if locking:
                await connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                await connection.commit()
            try:
                await connection.run_sync(_run)
            finally:
                if locking:
                    await connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # a caller that already holds a connection
        _run(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
