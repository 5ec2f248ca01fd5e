"""Login transactions: several tabs, eviction of the oldest, a ten-minute life."""

from tests.bff.conftest import Harness
from tests.bff.fakes import ISSUER


def _login_cookies(harness: Harness) -> list[str]:
    return [c.name for c in harness.client.cookies.jar if "bff-login" in c.name]


async def test_several_tabs_each_complete(harness: Harness) -> None:
    first = await harness.start_login(returnTo="/one")
    second = await harness.start_login(returnTo="/two")
    assert len(_login_cookies(harness)) == 2
    code2 = harness.provider.approve(second)
    done2 = await harness.callback({"code": code2, "state": second["state"], "iss": ISSUER})
    assert done2.headers["location"] == "/two"
    code1 = harness.provider.approve(first)
    done1 = await harness.callback({"code": code1, "state": first["state"], "iss": ISSUER})
    assert done1.headers["location"] == "/one"
    assert not _login_cookies(harness)


async def test_oldest_pending_login_evicted(harness: Harness) -> None:
    queries = []
    for index in range(5):
        harness.clock.advance(1)
        queries.append(await harness.start_login(returnTo=f"/{index}"))
    assert len(_login_cookies(harness)) == 3
    oldest = queries[0]
    code = harness.provider.approve(oldest)
    refused = await harness.callback({"code": code, "state": oldest["state"], "iss": ISSUER})
    assert refused.status_code == 400
    newest = queries[-1]
    code = harness.provider.approve(newest)
    done = await harness.callback({"code": code, "state": newest["state"], "iss": ISSUER})
    assert done.headers["location"] == "/4"


async def test_login_transaction_expires_after_ten_minutes(harness: Harness) -> None:
    query = await harness.start_login()
    harness.clock.advance(601)
    code = harness.provider.approve(query)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    assert response.status_code == 400
