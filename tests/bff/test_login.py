"""Login transactions: several tabs, eviction, silent login, client auth, size budget."""

import base64
import os
from urllib.parse import parse_qsl, urlsplit

from tests.bff.conftest import Harness, build_harness
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


async def test_silent_login_required_returns_with_marker(harness: Harness) -> None:
    query = await harness.start_login(returnTo="/page?tab=2", prompt="none")
    assert query["prompt"] == "none"
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "login_required"}
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/page?tab=2&auth_error=login_required"
    assert not harness.session_cookies()


async def test_silent_login_marker_goes_before_the_fragment(harness: Harness) -> None:
    query = await harness.start_login(returnTo="/page#section", prompt="none")
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "interaction_required"}
    )
    assert response.headers["location"] == "/page?auth_error=login_required#section"


async def test_login_required_without_prompt_none_is_an_error_page(harness: Harness) -> None:
    query = await harness.start_login()
    response = await harness.callback(
        {"state": query["state"], "iss": ISSUER, "error": "login_required"}
    )
    assert response.status_code == 400
    assert "login_required" in response.text


async def test_session_too_large_refused_at_login(harness: Harness) -> None:
    groups = [base64.b64encode(os.urandom(24)).decode() for _ in range(200)]
    query = await harness.start_login()
    code = harness.provider.approve(query, groups=groups)
    response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
    assert response.status_code == 400
    assert "session_too_large" in response.text
    assert not harness.session_cookies()


async def test_stale_chunks_removed_when_session_shrinks(harness: Harness) -> None:
    groups = [base64.b64encode(os.urandom(24)).decode() for _ in range(90)]
    await harness.login(groups=groups)
    assert len(harness.session_cookies()) >= 3
    response = await harness.login()
    assert len(harness.session_cookies()) == 1
    removed = [line for line in response.headers.get_list("set-cookie") if "Max-Age=0" in line]
    assert any("bff-session.1=" in line for line in removed)


async def test_public_client_sends_client_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, client_secret="")
    async with harness.client, harness.outbound:
        await harness.login()
        request = harness.provider.token_requests[0]
        assert request["auth"] is None
        assert request["form"]["client_id"] == "bff-client"
        assert "client_secret" not in request["form"]


async def test_client_secret_post_when_basic_unsupported(harness: Harness) -> None:
    harness.provider.metadata_extra = {
        "token_endpoint_auth_methods_supported": ["client_secret_post"]
    }
    await harness.login()
    request = harness.provider.token_requests[0]
    assert request["auth"] is None
    assert request["form"]["client_secret"] == "s3cret"


async def test_resource_indicator_sent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, resource="https://api.test")
    async with harness.client, harness.outbound:
        response = await harness.client.get("/auth/login")
        query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
        assert query["resource"] == "https://api.test"
        code = harness.provider.approve(query)
        await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
        assert harness.provider.token_requests[0]["form"]["resource"] == "https://api.test"


async def test_http_loopback_uses_plain_cookie_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = build_harness(tmp_path, public_url="http://127.0.0.1:8000", cookie_samesite="lax")
    harness.client.base_url = "http://127.0.0.1:8000"
    async with harness.client, harness.outbound:
        query = await harness.start_login()
        code = harness.provider.approve(query)
        response = await harness.callback({"code": code, "state": query["state"], "iss": ISSUER})
        line = next(
            x for x in response.headers.get_list("set-cookie") if x.startswith("bff-session=")
        )
        assert "Secure" not in line
        assert "SameSite=Lax" in line
        assert "__Host-" not in line
        assert (await harness.client.get("/auth/me")).status_code == 200
