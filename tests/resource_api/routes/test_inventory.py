"""routes/inventory.py: If-Match (RFC 9110 §13.1.1) and writes conditional on the check."""

import httpx
import pytest

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
