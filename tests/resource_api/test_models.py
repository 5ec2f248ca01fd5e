"""models.py: string fields refuse what PostgreSQL cannot store (NUL) and other controls."""

from typing import Any

import httpx
import pytest

from tests.resource_api.world import World

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "actor", "body"),
    [
        ("POST", "/products", "owner", {"name": NUL}),
        ("POST", "/products", "owner", {"name": "tea", "brand": "x\u0000"}),
        ("POST", "/products", "owner", {"name": "tea", "notes": "\u0000"}),
        ("POST", "/products", "owner", {"name": "line\nbreak"}),
        ("POST", "/products", "owner", {"name": "tea", "category": "\u001b[31m"}),
        ("POST", "/products", "owner", {"name": "tea", "notes": "bell\u0007"}),
        ("PATCH", "/products/{P_shared}", "owner", {"brand": "x\u0000"}),
        ("POST", "/products/{P_shared}/inventory", "owner", {"quantity": 1, "unit": NUL}),
        ("PATCH", "/inventory/{I_shared}", "member", {"unit": "x\u0000"}),
        ("PATCH", "/inventory/{I_shared}", "member", {"location": "\u007f"}),
        ("POST", "/admin/households", "admin", {"name": "x\u0000"}),
    ],
)
async def test_control_characters_are_400(
    client: httpx.AsyncClient, world: World, method: str, path: str, actor: str, body: Any
) -> None:
    url = path.format(**world.ids)
    response = await client.request(method, url, json=body, headers=world.headers[actor])
    assert response.status_code == 400, response.text
    assert "control characters" in response.json()["error_description"]


async def test_notes_keep_tabs_and_line_breaks(client: httpx.AsyncClient, world: World) -> None:
    notes = "first line\r\n\tsecond line\n"
    response = await client.post(
        "/products", json={"name": "tea", "notes": notes}, headers=world.headers["owner"]
    )
    assert response.status_code == 201, response.text
    assert response.json()["notes"] == notes
