"""httpx as a browser: one cookie jar, redirects followed by hand, the provider's development
login and consent forms filled in, and the SPA's headers on `/api` calls."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.e2e.stack import API_AUDIENCE, BFF_CLIENT_ID

#: Redirect hops before we call it a loop.
MAX_HOPS = 20


class _Forms(HTMLParser):
    """Collects <form>s: action, method, and the named inputs/buttons (form= attribute too)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            form = {"action": a.get("action", ""), "method": a.get("method", "get").lower()}
            form["fields"] = {}
            form["buttons"] = []
            self.forms.append(form)
            self._current = form
            if a.get("id"):
                self._by_id[a["id"]] = form
            return
        owner = self._by_id.get(a.get("form", "")) or self._current
        if owner is None:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "submit":
                owner["buttons"].append((a["name"], a.get("value", "")))
            else:
                owner["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            owner["buttons"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class LoginError(AssertionError):
    pass


class Browser:
    """A cookie-keeping client that never follows redirects on its own."""

    def __init__(self, bff_url: str) -> None:
        self.bff_url = bff_url
        self.client = httpx.Client(follow_redirects=False, timeout=15, trust_env=False)
        self.pages: list[str] = []  # every URL visited, for failure messages

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- navigation ------------------------------------------------------------------------

    def _follow(self, response: httpx.Response, stop_at: str | None = None) -> httpx.Response:
        for _ in range(MAX_HOPS):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            target = response.url.join(response.headers["location"])
            if stop_at is not None and str(target).startswith(stop_at):
                return response
            self.pages.append(str(target))
            response = self.client.get(target)
        raise LoginError(f"redirect loop: {self.pages[-5:]}")

    def navigate(self, url: str) -> httpx.Response:
        self.pages.append(url)
        return self._follow(self.client.get(url))

    def submit(self, page: httpx.Response, form: dict[str, Any], data: dict[str, str]) -> Any:
        action = page.url.join(form["action"] or str(page.url))
        body = {**form["fields"], **data}
        self.pages.append(f"POST {action}")
        return self._follow(self.client.post(action, data=body))

    # -- the provider's development interactions ---------------------------------------------

    def login(self, user: str, return_to: str = "/", password: str = "any") -> httpx.Response:
        """Sign in through the BFF and the provider's pages; returns the final BFF response."""
        page = self.navigate(f"{self.bff_url}/auth/login?returnTo={return_to}")
        for _ in range(5):
            if str(page.url).startswith(self.bff_url):
                return page
            if page.status_code != 200:
                raise LoginError(f"{page.status_code} at {page.url}: {page.text[:300]}")
            found = forms(page.text)
            prompt_form = next((f for f in found if "prompt" in f["fields"]), None)
            if prompt_form is None:
                raise LoginError(f"no interaction form at {page.url}: {page.text[:300]}")
            prompt = prompt_form["fields"]["prompt"]
            if prompt == "login":
                page = self.submit(page, prompt_form, {"login": user, "password": password})
            elif prompt == "consent":
                page = self.submit(page, prompt_form, {})
            else:
                raise LoginError(f"unknown prompt {prompt!r}")
        raise LoginError(f"login did not finish: {self.pages[-5:]}")

    def confirm_provider_logout(self, logout_url: str) -> httpx.Response:
        """Open the provider's end-session URL and press "Yes, sign me out"."""
        page = self.navigate(logout_url)
        if str(page.url).startswith(self.bff_url):
            return page
        (form,) = [f for f in forms(page.text) if "xsrf" in f["fields"]]
        return self.submit(page, form, {"logout": "yes"})

    # -- the SPA's calls -------------------------------------------------------------------

    def me(self) -> httpx.Response:
        return self.client.get(f"{self.bff_url}/auth/me")

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF": "1", **kwargs.pop("headers", {})}
        return self.client.request(method, f"{self.bff_url}/api{path}", headers=headers, **kwargs)

    def api_json(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        """`api()` that asserts the status (with the body in the message) and decodes JSON."""
        response = self.api(method, path, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()

    def logout(self) -> httpx.Response:
        return self.client.post(f"{self.bff_url}/auth/logout", headers={"X-CSRF": "1"})

    def cookie_names(self) -> set[str]:
        return {c.name for c in self.client.cookies.jar}


def authorization_request(
    bff_url: str, scope: str, resource: str | None = None, **extra: str
) -> tuple[str, str, dict[str, str]]:
    """What the BFF client sends to an authorization endpoint (PKCE S256, fresh state and
    nonce): the code verifier, the redirect URI and the query parameters."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    redirect_uri = f"{bff_url}/auth/callback"
    params = {
        "response_type": "code",
        "client_id": BFF_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **extra,
    }
    if resource:
        params["resource"] = resource
    return verifier, redirect_uri, params


def code_flow_tokens(
    issuer: str,
    bff_url: str,
    client_secret: str,
    user: str,
    *,
    scope: str = "openid profile email",
    resource: str | None = API_AUDIENCE,
) -> dict[str, Any]:
    """The authorization code flow (PKCE S256) run as the BFF client would, keeping the
    tokens: for tests that need what the browser never sees."""
    verifier, redirect_uri, params = authorization_request(bff_url, scope, resource)
    with Browser(bff_url) as browser:
        page = browser._follow(browser.client.get(f"{issuer}/auth", params=params), redirect_uri)
        assert page.status_code == 200, f"{page.status_code} {page.headers.get('location')}"
        (form,) = [f for f in forms(page.text) if f["fields"].get("prompt") == "login"]
        done = browser.client.post(
            page.url.join(form["action"]), data={**form["fields"], "login": user, "password": "x"}
        )
        final = browser._follow(done, stop_at=redirect_uri)
        code = final.url.join(final.headers["location"]).params["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if resource:
        data["resource"] = resource
    response = httpx.post(
        f"{issuer}/token", auth=(BFF_CLIENT_ID, client_secret), data=data, timeout=10
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens
