"""PostgreSQL for the tests: the admin connection, and throwaway databases.

`.ci/services.sh` (run by `make test`) gives user `postgres` passwordless access on
127.0.0.1; `TEST_PG_DSN` points the tests at another server.
"""

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def admin(sql: str) -> None:
    """Run one statement as the admin user (CREATE/DROP DATABASE and the like)."""
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def database_dsn(database: str) -> str:
    """The asyncpg DSN of `database` on the admin server."""
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def sqlalchemy_url(database: str) -> str:
    """The SQLAlchemy (asyncpg driver) URL of `database` on the admin server."""
    return database_dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh database with a random name (yielded), dropped afterwards.

    Runs its statements in an event loop of its own: for session fixtures and processes."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    # a throwaway database need not survive a crash: skip the fsync at every commit
    asyncio.run(admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
