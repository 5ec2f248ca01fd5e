"""Key rotation: put a new key first, keep the old one after it; remove it to end sessions."""

from bff.keyring import KeyRing
from bff.session.cookie import PURPOSE
from bff.settings import parse_session_keys
from tests.bff.conftest import KEY_A, KEY_B, Harness

SESSION = "__Host-Http-bff-session"


def _kid(value: str) -> str | None:
    sealed = value.split("~", 1)[1]
    for ring, kid in (
        (KeyRing(parse_session_keys(KEY_A)), "a"),
        (KeyRing(parse_session_keys(KEY_B)), "b"),
    ):
        if ring.open(sealed, PURPOSE) is not None:
            return kid
    return None


async def test_a_sealed_cookie_works_under_b_a_and_is_resealed_with_b(harness: Harness) -> None:
    await harness.login()
    assert _kid(harness.session_cookies()[SESSION]) == "a"

    harness.rebuild(session_keys=f"{KEY_B},{KEY_A}")
    response = await harness.client.get("/auth/me")
    assert response.status_code == 200
    assert any(line.startswith(SESSION + "=") for line in response.headers.get_list("set-cookie"))
    assert _kid(harness.session_cookies()[SESSION]) == "b"

    # also through the proxy: an A-sealed cookie comes back sealed with B
    harness.rebuild(session_keys=KEY_A)
    harness.client.cookies.clear()
    await harness.login()
    harness.rebuild(session_keys=f"{KEY_B},{KEY_A}")
    proxied = await harness.api("/api/products")
    assert proxied.status_code == 200
    assert _kid(harness.session_cookies()[SESSION]) == "b"


async def test_a_sealed_cookie_is_no_session_under_b_alone(harness: Harness) -> None:
    await harness.login()
    harness.rebuild(session_keys=KEY_B)
    assert (await harness.client.get("/auth/me")).status_code == 401
    assert (await harness.api("/api/products")).status_code == 401
    assert not harness.upstream.received
