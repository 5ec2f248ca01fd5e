"""Concurrent writers: conditional PATCH never loses an update; first requests upsert."""

import asyncio

import asyncpg
import httpx

from tests.resource_api.conftest import database_dsn, user_headers
from tests.resource_api.world import World
from tests.support.tokens import TokenFactory

WRITERS = 50


async def test_one_winner_per_version(client: httpx.AsyncClient, world: World) -> None:
    row = f"/inventory/{world.ids['I_shared']}"
    etag = (await client.get(row, headers=world.headers["owner"])).headers["etag"]
    # owner and household member race with the same ETag
    actors = ["owner", "member"] * (WRITERS // 2)
    responses = await asyncio.gather(
        *(
            client.patch(row, json={"quantity": i}, headers={**world.headers[a], "If-Match": etag})
            for i, a in enumerate(actors)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (WRITERS - 1)
    winner = next(r for r in responses if r.status_code == 200)
    final = (await client.get(row, headers=world.headers["owner"])).json()
    assert final["quantity"] == winner.json()["quantity"]
    assert final["version"] == 2


async def test_increments_are_never_lost(client: httpx.AsyncClient, world: World) -> None:
    """50 read-modify-write loops (GET, then PATCH with If-Match, retry on 412)."""
    row = f"/inventory/{world.ids['I_shared']}"
    winners: list[int] = []

    async def add_one(actor: str) -> None:
        headers = world.headers[actor]
        for _ in range(200):  # bounded: contention resolves long before this
            current = await client.get(row, headers=headers)
            body = current.json()
            response = await client.patch(
                row,
                json={"quantity": body["quantity"] + 1},
                headers={**headers, "If-Match": current.headers["etag"]},
            )
            if response.status_code == 200:
                winners.append(body["version"])
                return
            assert response.status_code == 412, response.text
        raise AssertionError("writer starved")

    await asyncio.gather(*(add_one(a) for a in ["owner", "member"] * (WRITERS // 2)))
    final = (await client.get(row, headers=world.headers["owner"])).json()
    assert final["quantity"] == 1 + WRITERS
    assert final["version"] == 1 + WRITERS
    assert sorted(winners) == list(range(1, WRITERS + 1))  # exactly one winner per version


async def test_stale_etag_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    row = f"/inventory/{world.ids['I_shared']}"
    headers = world.headers["owner"]
    first = await client.patch(row, json={"quantity": 5}, headers={**headers, "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = await client.patch(row, json={"quantity": 9}, headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error"] == "precondition_failed"
    assert (await client.get(row, headers=headers)).json()["quantity"] == 5
    for tag in ('W/"2"', "garbage", '"nope"'):
        response = await client.patch(
            row, json={"quantity": 7}, headers={**headers, "If-Match": tag}
        )
        assert response.status_code == 412
    star = await client.patch(row, json={"quantity": 7}, headers={**headers, "If-Match": "*"})
    assert star.status_code == 200
    listed = await client.patch(
        row, json={"quantity": 8}, headers={**headers, "If-Match": '"1", "3"'}
    )
    assert listed.status_code == 200


async def test_concurrent_first_requests_create_one_user(
    client: httpx.AsyncClient, tokens: TokenFactory, pg_database: str
) -> None:
    headers = user_headers(tokens, "newcomer")
    responses = await asyncio.gather(*(client.get("/me", headers=headers) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["user"]["id"] for r in responses}) == 1
    connection = await asyncpg.connect(database_dsn(pg_database))
    try:
        count = await connection.fetchval("SELECT count(*) FROM users WHERE subject = 'newcomer'")
    finally:
        await connection.close()
    assert count == 1


async def test_empty_patch_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    row = f"/inventory/{world.ids['I_shared']}"
    headers = world.headers["member"]
    response = await client.patch(row, json={}, headers={**headers, "If-Match": '"1"'})
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    stale = await client.patch(row, json={}, headers={**headers, "If-Match": '"0"'})
    assert stale.status_code == 412
