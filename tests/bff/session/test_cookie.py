"""`CookieSessionStore` parsing of the chunk count: anything but one ASCII digit is no session."""

import pytest

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from bff.session.cookie import CookieSessionStore
from bff.settings import parse_session_keys
from tests.bff.conftest import KEY_A


@pytest.mark.parametrize("count", ["\u00b2", "\u0663", "01", "5", "0", "-1", " 1", "99999999"])
async def test_odd_chunk_counts_are_no_session(count: str) -> None:
    policy = CookiePolicy(secure=True, samesite="strict")
    store = CookieSessionStore(KeyRing(parse_session_keys(KEY_A)), policy)
    assert await store.load({policy.session_name: f"{count}~x"}) is None
