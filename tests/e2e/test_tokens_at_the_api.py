"""Tokens straight from the provider, presented to the resource API without the BFF."""

import base64
import json

import httpx

from tests.e2e.browser import Browser, code_flow_tokens
from tests.e2e.stack import API_AUDIENCE, SERVICE_CLIENT_ID, E2EStack


def _claims(token: str) -> dict:
    header, payload, _ = token.split(".")
    return {
        "header": json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        "payload": json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))),
    }


def test_client_credentials_token_is_a_read_only_service_principal(
    stack: E2EStack, browser: Browser, user_name: str
) -> None:
    browser.login(user_name)
    pid = browser.api("POST", "/products", json={"name": f"for the service {user_name}"}).json()[
        "id"
    ]
    browser.api("POST", f"/products/{pid}/inventory", json={"quantity": 3})

    token = stack.service_token()
    parts = _claims(token)
    assert parts["header"]["typ"] == "at+jwt"
    assert parts["header"]["alg"] == "RS256"
    assert parts["payload"]["aud"] == API_AUDIENCE
    assert parts["payload"]["scope"] == "inventory:read"
    # RFC 9068 §2.2: the client's own `sub` (the API refuses a token without one)
    assert parts["payload"]["sub"] == SERVICE_CLIENT_ID

    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api_url, headers=bearer, timeout=10) as api:
        seen = set()
        page = api.get("/products", params={"limit": 200})
        assert page.status_code == 200, page.text
        seen.update(p["id"] for p in page.json()["items"])
        while page.json()["next"]:
            page = api.get("/products", params={"limit": 200, "cursor": page.json()["next"]})
            seen.update(p["id"] for p in page.json()["items"])
        assert pid in seen  # across all users
        assert api.get(f"/products/{pid}/inventory").status_code == 200
        assert api.post("/products", json={"name": "nope"}).status_code == 403
        assert api.delete(f"/products/{pid}").status_code == 403


def test_id_token_is_refused_as_an_access_token(stack: E2EStack, user_name: str) -> None:
    tokens = code_flow_tokens(stack.issuer, stack.bff_url, stack.bff_client_secret, user_name)
    assert _claims(tokens["id_token"])["payload"]["groups"] == []

    with httpx.Client(base_url=stack.api_url, timeout=10) as api:
        as_access = api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert as_access.status_code == 200, as_access.text

        refused = api.get("/me", headers={"Authorization": f"Bearer {tokens['id_token']}"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
