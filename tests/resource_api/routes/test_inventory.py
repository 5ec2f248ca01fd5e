"""routes/inventory.py: If-Match (RFC 9110 §13.1.1) and writes conditional on the check."""

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api import access
from resource_api.identity import Actor
from resource_api.models import Inventory
from resource_api.routes.inventory import if_match_allows
from tests.resource_api.world import World


@pytest.mark.parametrize(
    ("if_match", "allowed"),
    [
        (None, True),
        ("*", True),
        (' "1" ', True),
        ('"2", "1"', True),
        ('"01"', False),  # strong comparison: same number, different tag
        ('W/"1"', False),  # weak tags never match If-Match
        ('"\u00b2"', False),  # "²".isdigit() is True, int("²") raises
        ('"\u0661"', False),  # ARABIC-INDIC DIGIT ONE
        ('"1 "', False),
        ("1", False),
        ('"' + "9" * 40 + '"', False),
        ("", False),
        (",", False),
    ],
)
def test_if_match_strong_comparison(if_match: str | None, allowed: bool) -> None:
    assert if_match_allows(if_match, '"1"') is allowed


@pytest.mark.parametrize("tag", ['"\u00b2"', '"\u00b9"', '"01"', '"999999999999999999999999"'])
async def test_odd_if_match_is_412_and_writes_nothing(
    client: httpx.AsyncClient, world: World, tag: str
) -> None:
    row = f"/inventory/{world.ids['I_shared']}"
    headers = [
        (b"authorization", world.headers["member"]["Authorization"].encode()),
        (b"if-match", tag.encode("utf-8")),
    ]
    response = await client.patch(row, json={"quantity": 2}, headers=headers)
    assert response.status_code == 412, response.text
    assert response.json()["error"] == "precondition_failed"
    current = await client.get(row, headers=world.headers["owner"])
    assert current.json()["quantity"] == 1
    assert current.headers["etag"] == '"1"'


class PausedCheck:
    """Holds one actor's request between `access.inventory_for_update` (the permission
    check) and the write, so the test can change the world in that window."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, user_id: str) -> None:
        self.reached, self.release = asyncio.Event(), asyncio.Event()
        original = access.inventory_for_update

        async def paused(
            session: AsyncSession, actor: Actor, inventory_id: uuid.UUID, fields: Any
        ) -> Inventory:
            row = await original(session, actor, inventory_id, fields)
            if str(actor.user_id) == user_id and not self.release.is_set():
                self.reached.set()
                await self.release.wait()
            return row

        monkeypatch.setattr(access, "inventory_for_update", paused)

    async def around(self, write: Awaitable[httpx.Response], meanwhile: Any) -> httpx.Response:
        task = asyncio.ensure_future(write)
        await asyncio.wait_for(self.reached.wait(), 10)
        await meanwhile()
        self.release.set()
        return await task


async def test_member_write_after_unshare_is_404(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = f"/inventory/{world.ids['I_shared']}"
    owner, member = world.headers["owner"], world.headers["member"]

    async def unshare() -> None:
        done = await client.patch(row, json={"is_household_shared": False}, headers=owner)
        assert done.status_code == 200
        assert done.headers["etag"] == '"2"'  # changing the sharing bumps the version

    pause = PausedCheck(monkeypatch, world.ids["bob"])
    late = await pause.around(
        client.patch(row, json={"quantity": 999, "location": "bob was here"}, headers=member),
        unshare,
    )
    assert late.status_code == 404, late.text
    final = (await client.get(row, headers=owner)).json()
    assert (final["quantity"], final["location"], final["version"]) == (1, None, 2)


async def test_member_write_after_removal_from_household_is_404(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = f"/inventory/{world.ids['I_shared']}"

    async def remove_bob() -> None:
        path = f"/admin/users/{world.ids['bob']}/household"
        assert (await client.delete(path, headers=world.headers["admin"])).status_code == 204

    pause = PausedCheck(monkeypatch, world.ids["bob"])
    late = await pause.around(
        client.patch(row, json={"quantity": 5}, headers=world.headers["member"]), remove_bob
    )
    assert late.status_code == 404, late.text
    final = (await client.get(row, headers=world.headers["owner"])).json()
    assert (final["quantity"], final["version"]) == (1, 1)


async def test_write_after_concurrent_change(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still visible: with If-Match the stale tag is 412; without, the write is redone on
    the new version (checked again), never applied to a version nobody checked."""
    row = f"/inventory/{world.ids['I_shared']}"
    owner, member = world.headers["owner"], world.headers["member"]

    async def owner_writes() -> None:
        assert (await client.patch(row, json={"unit": "kg"}, headers=owner)).status_code == 200

    pause = PausedCheck(monkeypatch, world.ids["bob"])
    stale = await pause.around(
        client.patch(row, json={"quantity": 3}, headers={**member, "If-Match": '"1"'}),
        owner_writes,
    )
    assert stale.status_code == 412, stale.text
    pause = PausedCheck(monkeypatch, world.ids["bob"])
    redone = await pause.around(
        client.patch(row, json={"quantity": 4}, headers=member), owner_writes
    )
    assert redone.status_code == 200, redone.text
    assert redone.headers["etag"] == '"4"'
    assert (redone.json()["quantity"], redone.json()["unit"]) == (4, "kg")
