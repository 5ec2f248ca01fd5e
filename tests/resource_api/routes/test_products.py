"""routes/products.py: a write racing a delete."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from resource_api import access
from resource_api.identity import Actor
from resource_api.models import Product
from tests.resource_api.world import World


async def test_product_patch_after_delete_is_404(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = f"/products/{world.ids['P_private']}"
    owner, admin = world.headers["owner"], world.headers["admin"]
    reached, release = asyncio.Event(), asyncio.Event()
    original = access.product_for_write

    async def paused(session: AsyncSession, actor: Actor, product_id: uuid.UUID) -> Product:
        found = await original(session, actor, product_id)
        if actor.is_admin and not release.is_set():
            reached.set()
            await release.wait()
        return found

    monkeypatch.setattr(access, "product_for_write", paused)
    task = asyncio.ensure_future(client.patch(product, json={"name": "late"}, headers=admin))
    await asyncio.wait_for(reached.wait(), 10)
    assert (await client.delete(product, headers=owner)).status_code == 204
    release.set()
    late = await task
    assert late.status_code == 404, late.text  # was a StaleDataError, 500
