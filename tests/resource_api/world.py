"""A small populated world for the access tests: households, users, products, rows.

alice (owner) and bob (member) share household H1, carol lives in H2, dave in none;
root is an admin by group. alice owns P_shared (rows I_shared, shared, and I_private)
and P_private (row I_hidden, unshared).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from resource_api.ids import uuid7
from tests.resource_api.conftest import (
    TABLES,
    bearer,
    database_dsn,
    service_token,
    user_token,
)
from tests.support.tokens import ISSUER, TokenFactory, generate_key

USERS = ("alice", "bob", "carol", "dave", "root")
ACTORS = ("owner", "admin", "member", "other", "loner", "svc_read", "svc_none", "anon", "bad")


_HEADERS: dict[int, dict[str, dict[str, str]]] = {}


def actor_headers(tokens: TokenFactory) -> dict[str, dict[str, str]]:
    """Headers per actor, minted once per factory (tokens live an hour)."""
    if id(tokens) not in _HEADERS:
        _HEADERS[id(tokens)] = _mint_headers(tokens)
    return _HEADERS[id(tokens)]


def _mint_headers(tokens: TokenFactory) -> dict[str, dict[str, str]]:
    # same kid, different key: a well-formed token with a bad signature
    forger = TokenFactory(keys=[generate_key("RS256", tokens.keys[0].kid)])
    return {
        "owner": bearer(user_token(tokens, "alice")),
        "admin": bearer(user_token(tokens, "root", groups=("admin",))),
        "member": bearer(user_token(tokens, "bob")),
        "other": bearer(user_token(tokens, "carol")),
        "loner": bearer(user_token(tokens, "dave")),
        "svc_read": bearer(service_token(tokens, scope="inventory:read")),
        "svc_none": bearer(service_token(tokens, scope="openid")),
        "anon": {},
        "bad": bearer(user_token(forger, "alice")),
    }


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    ids: dict[str, str] = field(default_factory=dict)


async def insert_world(database: str, tokens: TokenFactory) -> World:
    """Write the world straight into the database (much faster than through the API)."""
    ids = {name: uuid7() for name in (*USERS, "H1", "H2", "P_shared", "P_private")}
    ids.update({row: uuid7() for row in ("I_shared", "I_private", "I_hidden")})
    now = datetime.now(UTC)
    connection = await asyncpg.connect(database_dsn(database))
    try:
        async with connection.transaction():
            for table in TABLES.split(", "):
                await connection.execute(f"DELETE FROM {table}")  # noqa: S608 (constant names)
            await connection.executemany(
                "INSERT INTO users (id, issuer, subject, email, name, role, created_at,"
                " last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                [
                    (
                        ids[u],
                        ISSUER,
                        u,
                        f"{u}@example.test",
                        u.title(),
                        "admin" if u == "root" else "member",
                        now,
                    )
                    for u in USERS
                ],
            )
            await connection.executemany(
                "INSERT INTO households (id, name, created_at) VALUES ($1, $2, $3)",
                [(ids[h], h, now) for h in ("H1", "H2")],
            )
            await connection.executemany(
                "INSERT INTO household_memberships (user_id, household_id, role, created_at)"
                " VALUES ($1, $2, $3, $4)",
                [
                    (ids["alice"], ids["H1"], "owner", now),
                    (ids["bob"], ids["H1"], "member", now),
                    (ids["carol"], ids["H2"], "owner", now),
                ],
            )
            await connection.executemany(
                "INSERT INTO products (id, owner_id, name, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $4)",
                [(ids[p], ids["alice"], p, now) for p in ("P_shared", "P_private")],
            )
            await connection.executemany(
                "INSERT INTO inventory (id, product_id, owner_id, quantity, is_household_shared,"
                " version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, 1, $5, $5)",
                [
                    (ids["I_shared"], ids["P_shared"], ids["alice"], True, now),
                    (ids["I_private"], ids["P_shared"], ids["alice"], False, now),
                    (ids["I_hidden"], ids["P_private"], ids["alice"], False, now),
                ],
            )
    finally:
        await connection.close()
    return World(headers=actor_headers(tokens), ids={k: str(v) for k, v in ids.items()})
