"""Keycloak 26 for the end-to-end tests: the server distribution (`infra/keycloak/dist.py`,
fetched into a cache outside the repository the first time) started with `start-dev`, the
realm preset `infra/keycloak/realm-inventory.json` imported as it is committed, its
placeholders filled from the environment with this run's ports and fresh secrets; plus the
resource API on a throwaway PostgreSQL database and the BFF, with the settings that
`infra/keycloak/README.md` gives. Nothing outlives the run: Keycloak's database is in memory
and its home a temporary directory.

Logs go to `test-artifacts/e2e/keycloak/`, start-up timings to `timings.json` there.
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.request import Request

import httpx

from infra.keycloak import dist
from infra.stack import ServiceSpec, Stack, free_port
from tests.e2e.browser import Browser, LoginError, authorization_request, forms
from tests.e2e.stack import (
    ARTIFACTS,
    BFF_CLIENT_ID,
    HOST,
    ROOT,
    SERVICE_CLIENT_ID,
    E2EStack,
    _clean_env,
    new_session_key,
    throwaway_database,
)

REALM = "inventory"
REALM_FILE = ROOT / "infra" / "keycloak" / "realm-inventory.json"
#: the settings infra/keycloak/README.md gives
API_AUDIENCE = "inventory-api"
API_GROUPS_CLAIMS = "groups,realm_access.roles"
API_TOKEN_TYPES = "at+jwt,application/at+jwt,JWT"
BFF_SCOPES = "openid profile email"
#: above the realm's access-token lifespan (300 s): every proxied request refreshes first, so
#: the whole suite runs on rotated refresh tokens without waiting for an expiry
REFRESH_MARGIN_S = 3600
#: start-dev re-augments (about 15 s) before it starts (about 20 s) on 2 idle cores, in seconds
KEYCLOAK_READY_TIMEOUT_S = 300.0
#: Keycloak 26's temporary bootstrap admin: a service account in the master realm
ADMIN_CLIENT_ID = "e2e-admin"
#: user events stored for the tests (the realm preset stores none)
EVENT_TYPES = ["LOGIN", "CODE_TO_TOKEN", "REFRESH_TOKEN", "REFRESH_TOKEN_ERROR", "LOGOUT"]
EVENT_TYPES += ["REVOKE_GRANT", "CLIENT_LOGIN"]


@dataclass
class KeycloakStack(E2EStack):
    """`E2EStack` with Keycloak as the provider; `admin` reaches its admin REST API."""

    home: Path = field(default=Path(), repr=False)
    java_home: Path = field(default=Path(), repr=False)
    admin_secret: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    admin: KeycloakAdmin | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.idp_port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def oidc(self) -> str:
        """Base of the realm's OpenID Connect endpoints."""
        return f"{self.issuer}/protocol/openid-connect"

    def provider_stats(self) -> dict[str, Any]:
        raise NotImplementedError("Keycloak has no test statistics: read its events (admin)")

    def service_token_response(self, **extra: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.oidc}/token",
            auth=(SERVICE_CLIENT_ID, self.service_client_secret),
            data={"grant_type": "client_credentials", **extra},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def service_token(self, scope: str = "inventory:read") -> str:
        token: str = self.service_token_response(scope=scope)["access_token"]
        return token

    def token_request(self, **data: str) -> httpx.Response:
        """A token endpoint request authenticated as the BFF client."""
        return httpx.post(
            f"{self.oidc}/token",
            auth=(BFF_CLIENT_ID, self.bff_client_secret),
            data=data,
            timeout=10,
        )

    def refresh(self, refresh_token: str, **extra: str) -> httpx.Response:
        return self.token_request(grant_type="refresh_token", refresh_token=refresh_token, **extra)

    # -- process specs ---------------------------------------------------------------------

    def provider_spec(self) -> ServiceSpec:
        # Keycloak reads every KC_* variable as one of its options: none of the developer's
        env = {k: v for k, v in _clean_env().items() if not k.startswith("KC_")}
        env.update(
            {
                "JAVA_HOME": str(self.java_home),
                # the realm preset's placeholders (infra/keycloak/README.md)
                "KC_BFF_CLIENT_SECRET": self.bff_client_secret,
                "KC_SERVICE_CLIENT_SECRET": self.service_client_secret,
                "KC_BFF_PUBLIC_URL": self.bff_url,
                "KC_BFF_BACKCHANNEL_URL": self.bff_url,
                "KC_API_AUDIENCE": API_AUDIENCE,
                "KC_DEMO_PASSWORD": self.password,
                "KC_BOOTSTRAP_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
                "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": self.admin_secret,
            }
        )
        return ServiceSpec(
            name="keycloak",
            argv=dist.start_dev_argv(self.home, host=HOST, port=self.idp_port),
            env=env,
            cwd=self.home,
            # the realm's discovery answers only once the import is done
            ready_url=f"{self.issuer}/.well-known/openid-configuration",
            ready_timeout_s=KEYCLOAK_READY_TIMEOUT_S,
            log_path=self.log_dir / "keycloak.log",
            stop_timeout_s=20.0,
        )

    def api_spec(self) -> ServiceSpec:
        spec = super().api_spec()
        env = {
            **spec.env,
            "API_AUDIENCE": API_AUDIENCE,
            "API_GROUPS_CLAIMS": API_GROUPS_CLAIMS,
            "API_TOKEN_TYPES": API_TOKEN_TYPES,
        }
        return replace(spec, env=env)


class KeycloakAdmin:
    """The realm's admin REST API as the bootstrap admin service account."""

    def __init__(self, stack: KeycloakStack) -> None:
        self._stack = stack
        self._token: tuple[str, float] | None = None
        self.client = httpx.Client(
            base_url=f"{stack.base_url}/admin/realms/{REALM}", timeout=15, trust_env=False
        )

    def close(self) -> None:
        self.client.close()

    def _bearer(self) -> dict[str, str]:
        now = time.monotonic()
        if self._token is None or self._token[1] < now:
            response = httpx.post(
                f"{self._stack.base_url}/realms/master/protocol/openid-connect/token",
                auth=(ADMIN_CLIENT_ID, self._stack.admin_secret),
                data={"grant_type": "client_credentials"},
                timeout=10,
            )
            response.raise_for_status()
            body = response.json()
            # renew well before expiry (master's access tokens live 60 s)
            self._token = (body["access_token"], now + body["expires_in"] / 2)
        return {"Authorization": f"Bearer {self._token[0]}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, headers=self._bearer(), **kwargs)

    def json(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def user(self, username: str) -> dict[str, Any]:
        (found,) = self.json("/users", username=username, exact="true")
        user: dict[str, Any] = found
        return user

    def sessions(self, user_id: str) -> list[dict[str, Any]]:
        sessions: list[dict[str, Any]] = self.json(f"/users/{user_id}/sessions")
        return sessions

    def events(self, event_type: str, user_id: str) -> list[dict[str, Any]]:
        """Stored events of one type for one user. Error events of a refresh carry no
        `userId`, only the token's subject in `details`: those count too."""
        events: list[dict[str, Any]] = self.json("/events", type=event_type, max=10_000)
        return [
            event
            for event in events
            if user_id in (event.get("userId"), event.get("details", {}).get("refresh_token_sub"))
        ]

    def enable_events(self) -> None:
        config = {
            "eventsEnabled": True,
            "eventsListeners": ["jboss-logging"],
            "enabledEventTypes": EVENT_TYPES,
        }
        response = self.request("PUT", "/events/config", json=config)
        assert response.status_code == 204, response.text


class _LoopbackCookieJar(http.cookiejar.CookieJar):
    """Cookies kept as a browser keeps them on loopback.

    Keycloak marks its cookies `Secure` (with `SameSite=None`) even over http. Browsers keep
    and send those on `http://127.0.0.1`, a potentially trustworthy origin (W3C Secure
    Contexts §3.1); the standard library does not. Keycloak also still sends the RFC 2965
    `Version=1` attribute, which browsers ignore (RFC 6265) and the standard library honours
    by refusing the cookie. Both are undone here, for loopback hosts only.
    """

    def make_cookies(self, response: Any, request: Request) -> list[http.cookiejar.Cookie]:
        cookies = super().make_cookies(response, request)
        if request.host.split(":")[0] in ("127.0.0.1", "localhost"):
            for cookie in cookies:
                cookie.version = 0
                cookie.secure = False
        return cookies


class KeycloakBrowser(Browser):
    """`Browser` that signs in through Keycloak's own login page."""

    def __init__(self, bff_url: str) -> None:
        super().__init__(bff_url)
        # a CookieJar, not httpx.Cookies: the setter would copy the latter into a plain jar
        self.client.cookies = _LoopbackCookieJar()  # type: ignore[assignment]

    def submit_login(self, page: httpx.Response, user: str, password: str) -> httpx.Response:
        """Fill in and post Keycloak's login form (`#kc-form-login`) found on `page`."""
        found = [f for f in forms(page.text) if "username" in f["fields"]]
        if len(found) != 1:
            raise LoginError(f"no Keycloak login form at {page.url}: {page.text[:300]}")
        return self.submit(page, found[0], {"username": user, "password": password})

    def login(self, user: str, return_to: str = "/", password: str = "") -> httpx.Response:
        """Sign in through the BFF and Keycloak's login page; returns the final BFF response."""
        page = self.navigate(f"{self.bff_url}/auth/login?returnTo={return_to}")
        if not str(page.url).startswith(self.bff_url):  # no Keycloak SSO session yet
            page = self.submit_login(page, user, password)
        if not str(page.url).startswith(self.bff_url):
            raise LoginError(f"login ended at {page.url} ({page.status_code}): {page.text[:300]}")
        return page

    def sign_out_at_keycloak(self, oidc: str) -> httpx.Response:
        """Keycloak's own logout page (no `id_token_hint`): confirm, as a user would."""
        page = self.navigate(f"{oidc}/logout")
        (form,) = [f for f in forms(page.text) if "logout-confirm" in f["action"]]
        done = self.submit(page, form, {})
        assert done.status_code == 200, done.text[:300]
        return done


def keycloak_tokens(
    stack: KeycloakStack,
    user: str,
    *,
    scope: str = BFF_SCOPES,
    browser: KeycloakBrowser | None = None,
    **extra: str,
) -> dict[str, Any]:
    """The authorization code flow (PKCE S256) as the BFF client runs it, through Keycloak's
    login page, keeping the tokens: for tests that need what the browser never sees. Pass
    `browser` to keep Keycloak's cookies for later (its logout page), else a fresh one is
    used and closed."""
    verifier, redirect_uri, params = authorization_request(stack.bff_url, scope, **extra)
    with contextlib.nullcontext(browser) if browser else KeycloakBrowser(stack.bff_url) as browser:
        page = browser.client.get(f"{stack.oidc}/auth", params=params)
        found = [f for f in forms(page.text) if "username" in f["fields"]]
        assert len(found) == 1, f"{page.status_code} {page.text[:300]}"
        action = page.url.join(found[0]["action"])
        done = browser.client.post(
            action, data={**found[0]["fields"], "username": user, "password": stack.password}
        )
        assert done.status_code == 302, f"{done.status_code} {done.text[:300]}"
        answer = done.url.join(done.headers["location"]).params
        assert answer["iss"] == stack.issuer  # RFC 9207
        code = answer["code"]
    response = stack.token_request(
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        **{k: v for k, v in extra.items() if k == "resource"},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWS's header and payload, unverified (the signature is the API's business)."""
    header, payload, _ = token.split(".")
    return _b64json(header), _b64json(payload)


def _b64json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@contextmanager
def running_keycloak_stack(name: str = "keycloak") -> Iterator[KeycloakStack]:
    """Keycloak + resource API + BFF. Raises `dist.DistError` when Keycloak cannot be had
    here (no Maven, no Java 21+, download failed)."""
    log_dir = ARTIFACTS / name
    if log_dir.exists():
        for old in log_dir.iterdir():
            old.unlink()
    log_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    distribution = dist.distribution(echo=lambda line: print(f"[keycloak] {line}", flush=True))
    timings["distribution_s"] = time.monotonic() - started
    java_home = dist.java_home()
    with (
        tempfile.TemporaryDirectory(prefix="keycloak-home-") as home,
        throwaway_database() as database_url,
        Stack() as stack,
    ):
        e2e = KeycloakStack(
            name=name,
            idp_port=free_port(),
            api_port=free_port(),
            bff_port=free_port(),
            bff_client_secret=secrets.token_urlsafe(32),
            service_client_secret=secrets.token_urlsafe(32),
            session_keys=new_session_key("kc1"),
            access_token_ttl_s=300,  # the realm preset's accessTokenLifespan
            database_url=database_url,
            log_dir=log_dir,
            stack=stack,
            bff_extra_env={
                "BFF_SCOPES": BFF_SCOPES,
                "BFF_RESOURCE": "",  # Keycloak 26.4 ignores RFC 8707 (README)
                "BFF_REFRESH_MARGIN_S": str(REFRESH_MARGIN_S),
            },
            home=Path(home),
            java_home=java_home,
            admin_secret=secrets.token_urlsafe(32),
            password=secrets.token_urlsafe(12),
            timings=timings,
        )
        mark = time.monotonic()
        dist.prepare_home(distribution, e2e.home, [REALM_FILE])
        timings["home_s"] = time.monotonic() - mark
        mark = time.monotonic()
        stack.start(e2e.provider_spec())
        timings["keycloak_start_s"] = time.monotonic() - mark
        e2e.admin = KeycloakAdmin(e2e)
        try:
            e2e.admin.enable_events()
            mark = time.monotonic()
            stack.start(e2e.api_spec())
            stack.start(e2e.bff_spec())
            timings["api_and_bff_start_s"] = time.monotonic() - mark
            (log_dir / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
            yield e2e
        finally:
            e2e.admin.close()
