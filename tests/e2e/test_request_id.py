"""One request id across both services: the id a browser call gets at the BFF is the one
the API logs and answers with (SPEC "Observability")."""

import secrets

from tests.e2e.browser import Browser
from tests.e2e.stack import E2EStack


def test_the_api_keeps_the_id_the_bff_forwards(stack: E2EStack, browser: Browser) -> None:
    browser.login(f"r{secrets.token_hex(4)}")
    # 100 characters with "." and ":": within SPEC's rule, past what the API once kept
    given = f"trace:{secrets.token_hex(47)}."[:100]
    response = browser.api("GET", "/products", headers={"X-Request-ID": given})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == given
    # and an id the BFF made up itself reaches the API unchanged as well
    fresh = browser.api("GET", "/products", headers={"X-Request-ID": "bad id"})
    made = fresh.headers["x-request-id"]
    assert made != "bad id"
    api_log = (stack.log_dir / "resource-api.log").read_text(errors="replace")
    bff_log = (stack.log_dir / "bff.log").read_text(errors="replace")
    for request_id in (given, made):
        assert f"[{request_id}]" in bff_log
        assert f"[{request_id}] resource_api.access: GET /products 200" in api_log
