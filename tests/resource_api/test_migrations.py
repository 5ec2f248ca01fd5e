"""Alembic migrations: round trip on PostgreSQL, idempotent `migrate`, SQLite smoke run."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from resource_api.migrate import downgrade, upgrade
from tests.resource_api.conftest import make_settings, serve_app, user_headers
from tests.support.pg import database_dsn, sqlalchemy_url, throwaway_database
from tests.support.tokens import TokenFactory

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"users", "households", "household_memberships", "products", "inventory"}


async def _tables(database: str) -> set[str]:
    connection = await asyncpg.connect(database_dsn(database))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {r["tablename"] for r in rows} - {"alembic_version"}


def _migrate_cli(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    env.update(API_OIDC_ISSUER="https://idp.test", API_AUDIENCE="api", API_DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "resource_api", "migrate"],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_postgresql_round_trip_and_idempotent_migrate() -> None:
    with throwaway_database("resource_api_migrations") as name:
        url = sqlalchemy_url(name)
        upgrade(url)
        assert asyncio.run(_tables(name)) == TABLES
        downgrade(url, "base")
        assert asyncio.run(_tables(name)) == set()
        upgrade(url)
        assert asyncio.run(_tables(name)) == TABLES
        upgrade(url)  # already at head: nothing to do
        for _ in range(2):
            result = _migrate_cli(url, ROOT)
            assert result.returncode == 0, result.stderr
        assert asyncio.run(_tables(name)) == TABLES


def test_migrate_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    result = _migrate_cli("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "127.0.0.1:1" in result.stderr


async def test_sqlite_smoke(tmp_path: Path, tokens: TokenFactory) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/var/api.db"
    # alembic runs its own event loop: keep it off this test's loop
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(upgrade, url)
    headers = user_headers(tokens, "sqlite-user")
    async with serve_app(make_settings(url), tokens) as client:
        assert (await client.get("/me", headers=headers)).status_code == 200
        product = (await client.post("/products", json={"name": "tea"}, headers=headers)).json()
        row = await client.post(
            f"/products/{product['id']}/inventory",
            json={"quantity": 2, "expires_on": "2030-01-31", "is_household_shared": True},
            headers=headers,
        )
        assert row.status_code == 201
        patched = await client.patch(
            f"/inventory/{row.json()['id']}",
            json={"quantity": 1.5},
            headers={**headers, "If-Match": row.headers["etag"]},
        )
        assert patched.status_code == 200, patched.text
        body: dict[str, Any] = patched.json()
        assert body["version"] == 2
        assert body["updated_at"].endswith("Z")
        listing = await client.get("/products", headers=headers)
        assert [p["name"] for p in listing.json()["items"]] == ["tea"]
        # the household branch of the listing (SQLite's form: no LATERAL)
        admin = user_headers(tokens, "sqlite-admin", groups=("admin",))
        member = user_headers(tokens, "sqlite-member")
        member_id = (await client.get("/me", headers=member)).json()["user"]["id"]
        owner_id = (await client.get("/me", headers=headers)).json()["user"]["id"]
        household = (
            await client.post("/admin/households", json={"name": "home"}, headers=admin)
        ).json()["id"]
        for user in (owner_id, member_id):
            assigned = await client.put(
                f"/admin/users/{user}/household", json={"household_id": household}, headers=admin
            )
            assert assigned.status_code == 200
        seen = (await client.get("/products", headers=member)).json()["items"]
        assert [p["id"] for p in seen] == [product["id"]]
        # the conditional writes (version and current membership in the UPDATE) on SQLite
        shared_row = f"/inventory/{row.json()['id']}"
        by_member = await client.patch(shared_row, json={"quantity": 3}, headers=member)
        assert by_member.status_code == 200, by_member.text
        renamed = await client.patch(
            f"/products/{product['id']}", json={"brand": "acme"}, headers=headers
        )
        assert renamed.json()["brand"] == "acme"
        removed = await client.delete(f"/admin/users/{member_id}/household", headers=admin)
        assert removed.status_code == 204
        gone = await client.patch(shared_row, json={"quantity": 4}, headers=member)
        assert gone.status_code == 404
        deleted = await client.delete(f"/products/{product['id']}", headers=headers)
        assert deleted.status_code == 204
        assert (await client.get("/products", headers=member)).json()["items"] == []
