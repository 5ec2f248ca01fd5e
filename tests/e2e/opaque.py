"""The end-to-end stack of the second provider: django-oauth-toolkit (`infra/django-oauth-toolkit`,
opaque access tokens, RFC 7662 introspection), the resource API on a throwaway PostgreSQL
database and the BFF, as subprocesses on free loopback ports (beside `stack.py`, whose
helpers it reuses).

Logs go to `test-artifacts/e2e/<stack>/`.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra.stack import ServiceSpec, Stack, free_port, python_module
from tests.e2e.browser import Browser, LoginError, authorization_request, forms
from tests.e2e.stack import (
    ARTIFACTS,
    BFF_CLIENT_ID,
    HOST,
    READY_TIMEOUT_S,
    ROOT,
    SERVICE_CLIENT_ID,
    _app_env,
    _clean_env,
    new_session_key,
    throwaway_database,
)

DOT_DIR = ROOT / "infra" / "django-oauth-toolkit"
INTROSPECTION_CLIENT_ID = "inventory-api"
#: The BFF asks for `groups` too: DOT gives that claim its own scope, as Authelia does.
BFF_SCOPES = "openid profile email groups offline_access"
#: Access tokens live this long, in seconds. The eager BFF refreshes on every proxied call.
ACCESS_TOKEN_TTL_S = 300
#: Upper bound of the API's introspection cache in this stack, in seconds.
INTROSPECTION_CACHE_S = 2


def _without_dot(env: dict[str, str]) -> dict[str, str]:
    # The developer's own DOT_* settings must not leak into the stack either.
    return {k: v for k, v in env.items() if not k.startswith("DOT_")}


@dataclass
class OpaqueStack:
    """Where everything listens, and the secrets it was started with."""

    name: str
    idp_port: int
    api_port: int
    bff_port: int
    #: the second BFF (refresh margin = token lifetime), started on demand
    eager_bff_port: int
    bff_client_secret: str
    service_client_secret: str
    introspection_client_secret: str
    user_password: str
    session_keys: str
    database_url: str
    log_dir: Path
    stack: Stack = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.idp_port}/o"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def audience(self) -> str:
        """The API's RFC 8707 resource indicator, and so the tokens' `aud`. DOT takes only
        absolute http(s) URIs here (no `urn:`), so it is the API's own URL."""
        return self.api_url

    @property
    def bff_url(self) -> str:
        return f"http://{HOST}:{self.bff_port}"

    @property
    def eager_bff_url(self) -> str:
        return f"http://{HOST}:{self.eager_bff_port}"

    def url(self, endpoint: str) -> str:
        """An endpoint under the issuer, e.g. `token/`."""
        return f"{self.issuer}/{endpoint}"

    def provider_stats(self) -> dict[str, int]:
        response = httpx.get(f"http://{HOST}:{self.idp_port}/__test/stats", timeout=5)
        response.raise_for_status()
        data: dict[str, int] = response.json()
        return data

    def introspect(self, token: str, *, stock: bool = False) -> dict[str, Any]:
        """The provider's RFC 7662 answer for `token`, asked as the resource server asks
        (`client_secret_basic`); `stock`: DOT's own endpoint (test mode), for comparison."""
        url = f"http://{HOST}:{self.idp_port}/__test/introspect-dot/" if stock else None
        response = httpx.post(
            url or self.url("introspect/"),
            auth=(INTROSPECTION_CLIENT_ID, self.introspection_client_secret),
            data={"token": token},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def token_request(self, client_id: str, secret: str, **data: str) -> httpx.Response:
        return httpx.post(self.url("token/"), auth=(client_id, secret), data=data, timeout=10)

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token_request(
            BFF_CLIENT_ID,
            self.bff_client_secret,
            grant_type="refresh_token",
            refresh_token=refresh_token,
            resource=self.audience,
        )

    def revoke(self, token: str, hint: str) -> httpx.Response:
        return httpx.post(
            self.url("revoke_token/"),
            auth=(BFF_CLIENT_ID, self.bff_client_secret),
            data={"token": token, "token_type_hint": hint},
            timeout=10,
        )

    def service_token(self, scope: str = "inventory:read") -> str:
        """A client-credentials access token for the API, straight from the provider."""
        response = self.token_request(
            SERVICE_CLIENT_ID,
            self.service_client_secret,
            grant_type="client_credentials",
            scope=scope,
            resource=self.audience,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    # -- process specs ---------------------------------------------------------------------

    def provider_spec(self) -> ServiceSpec:
        bffs = (self.bff_url, self.eager_bff_url)
        env = {
            **_without_dot(_clean_env()),
            "DOT_HOST": HOST,
            "DOT_PORT": str(self.idp_port),
            "DOT_ISSUER": self.issuer,
            "DOT_BFF_CLIENT_ID": BFF_CLIENT_ID,
            "DOT_BFF_CLIENT_SECRET": self.bff_client_secret,
            "DOT_BFF_REDIRECT_URIS": ",".join(f"{b}/auth/callback" for b in bffs),
            "DOT_BFF_POST_LOGOUT_REDIRECT_URIS": ",".join(f"{b}/" for b in bffs),
            "DOT_SERVICE_CLIENT_ID": SERVICE_CLIENT_ID,
            "DOT_SERVICE_CLIENT_SECRET": self.service_client_secret,
            "DOT_INTROSPECTION_CLIENT_ID": INTROSPECTION_CLIENT_ID,
            "DOT_INTROSPECTION_CLIENT_SECRET": self.introspection_client_secret,
            "DOT_USER_PASSWORD": self.user_password,
            "DOT_ACCESS_TOKEN_TTL_S": str(ACCESS_TOKEN_TTL_S),
            "DOT_TEST_MODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        return ServiceSpec(
            name="dot-provider",
            argv=[sys.executable, "server.py"],
            env=env,
            cwd=DOT_DIR,
            ready_url=f"{self.issuer}/.well-known/openid-configuration",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / "dot-provider.log",
        )

    def api_spec(
        self,
        *,
        name: str = "resource-api",
        port: int | None = None,
        database_url: str | None = None,
        issuers: tuple[str, ...] = (),
        audiences: tuple[str, ...] = (),
    ) -> ServiceSpec:
        """The API with introspection at DOT (SPEC: the first issuer's endpoint), by default
        for DOT's issuer and audience alone."""
        port = port or self.api_port
        env = {
            **_without_dot(_app_env()),
            "API_OIDC_ISSUER": ",".join(issuers or (self.issuer,)),
            "API_AUDIENCE": ",".join(audiences or (self.audience,)),
            "API_DATABASE_URL": database_url or self.database_url,
            "API_HOST": HOST,
            "API_PORT": str(port),
            "API_SERVICE_CLIENTS": SERVICE_CLIENT_ID,
            "API_ADMIN_GROUPS": "admin",
            "API_INTROSPECTION_CLIENT_ID": INTROSPECTION_CLIENT_ID,
            "API_INTROSPECTION_CLIENT_SECRET": self.introspection_client_secret,
            "API_INTROSPECTION_CACHE_S": str(INTROSPECTION_CACHE_S),
        }
        return ServiceSpec(
            name=name,
            argv=python_module("resource_api", "serve"),
            env=env,
            cwd=self.log_dir,
            ready_url=f"http://{HOST}:{port}/health",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / f"{name}.log",
        )

    def bff_spec(self, *, eager: bool = False) -> ServiceSpec:
        """The BFF; `eager`: the second one, whose refresh margin is the token lifetime, so
        that it refreshes before every proxied request."""
        port = self.eager_bff_port if eager else self.bff_port
        name = "bff-eager" if eager else "bff"
        env = {
            **_without_dot(_app_env()),
            "BFF_OIDC_ISSUER": self.issuer,
            "BFF_CLIENT_ID": BFF_CLIENT_ID,
            "BFF_CLIENT_SECRET": self.bff_client_secret,
            "BFF_PUBLIC_URL": f"http://{HOST}:{port}",
            "BFF_SESSION_KEYS": self.session_keys,
            "BFF_UPSTREAM_URL": self.api_url,
            "BFF_RESOURCE": self.audience,
            "BFF_SCOPES": BFF_SCOPES,
            "BFF_HOST": HOST,
            "BFF_PORT": str(port),
        }
        if eager:
            env["BFF_REFRESH_MARGIN_S"] = str(ACCESS_TOKEN_TTL_S)
        return ServiceSpec(
            name=name,
            argv=python_module("bff", "serve"),
            env=env,
            cwd=self.log_dir,
            ready_url=f"http://{HOST}:{port}/readyz",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / f"{name}.log",
        )


@contextmanager
def running_opaque_stack(name: str = "opaque") -> Iterator[OpaqueStack]:
    """DOT, then the API (introspecting at DOT), then the BFF."""
    log_dir = ARTIFACTS / name
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.mkdir(parents=True)
    with throwaway_database() as database_url, Stack() as stack:
        opaque = OpaqueStack(
            name=name,
            idp_port=free_port(),
            api_port=free_port(),
            bff_port=free_port(),
            eager_bff_port=free_port(),
            bff_client_secret=secrets.token_urlsafe(32),
            service_client_secret=secrets.token_urlsafe(32),
            introspection_client_secret=secrets.token_urlsafe(32),
            user_password=secrets.token_urlsafe(16),
            session_keys=new_session_key("opq1"),
            database_url=database_url,
            log_dir=log_dir,
            stack=stack,
        )
        stack.start(opaque.provider_spec())
        stack.start(opaque.api_spec())
        stack.start(opaque.bff_spec())
        yield opaque


# -- the provider's login form ---------------------------------------------------------------


def sign_in(browser: Browser, page: httpx.Response, user: str, password: str) -> httpx.Response:
    """Fill in DOT's login page (Django's `LoginView`) and follow the redirects."""
    found = [f for f in forms(page.text) if "username" in f["fields"]]
    if page.status_code != 200 or not found:
        raise LoginError(f"no login form at {page.url}: {page.status_code} {page.text[:300]}")
    return browser.submit(page, found[0], {"username": user, "password": password})


def bff_login(browser: Browser, opaque: OpaqueStack, user: str, return_to: str = "/") -> Any:
    """Sign in through the BFF and DOT's login page; returns the final BFF response."""
    page = browser.navigate(f"{browser.bff_url}/auth/login?returnTo={return_to}")
    if not str(page.url).startswith(opaque.issuer.rsplit("/", 1)[0]):
        raise LoginError(f"not sent to the provider: {browser.pages[-3:]}")
    landing = sign_in(browser, page, user, opaque.user_password)
    if not str(landing.url).startswith(browser.bff_url):
        raise LoginError(f"login did not come back to the BFF: {browser.pages[-4:]}")
    return landing


@dataclass
class CodeFlow:
    """What the authorization code flow (PKCE S256) brought back."""

    callback: dict[str, str]
    token_response: httpx.Response
    verifier: str

    @property
    def tokens(self) -> dict[str, Any]:
        assert self.token_response.status_code == 200, self.token_response.text
        data: dict[str, Any] = self.token_response.json()
        return data


def code_flow(
    opaque: OpaqueStack,
    user: str = "alice",
    *,
    scope: str = BFF_SCOPES,
    resource: str | None = "",
    verifier: str | None = None,
) -> CodeFlow:
    """The code flow as the BFF client runs it, by hand: for tests that need the tokens.
    `resource` "" means the API's audience, None means no resource indicator; a wrong
    `verifier` may be passed for the token request."""
    resource = opaque.audience if resource == "" else resource
    real_verifier, redirect_uri, params = authorization_request(opaque.bff_url, scope, resource)
    with Browser(opaque.bff_url) as browser:
        page = browser._follow(
            browser.client.get(opaque.url("authorize/"), params=params), redirect_uri
        )
        found = [f for f in forms(page.text) if "username" in f["fields"]]
        assert page.status_code == 200, f"{page.status_code} {page.text[:300]}"
        assert found, f"no login form at {page.url}"
        done = browser.client.post(
            page.url.join(found[0]["action"] or str(page.url)),
            data={**found[0]["fields"], "username": user, "password": opaque.user_password},
        )
        final = browser._follow(done, stop_at=redirect_uri)
        callback = dict(final.url.join(final.headers["location"]).params)
    assert callback.get("state") == params["state"], callback.keys()
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier or real_verifier,
    }
    if resource:
        data["resource"] = resource
    response = opaque.token_request(BFF_CLIENT_ID, opaque.bff_client_secret, **data)
    return CodeFlow(callback=callback, token_response=response, verifier=real_verifier)


# -- a second issuer beside it: the development oidc-provider (JWT access tokens) ------------


@dataclass
class SecondIssuer:
    """oidc-provider and a second API that lists both issuers (DOT first, so it is the one
    the API introspects at)."""

    issuer: str
    bff_public_url: str
    bff_client_secret: str
    api_url: str


#: oidc-provider's resource indicator, as in `stack.py`
JWT_AUDIENCE = "urn:inventory-api"


@contextmanager
def second_issuer(opaque: OpaqueStack) -> Iterator[SecondIssuer]:
    from tests.e2e.stack import PROVIDER_DIR

    idp_port, api_port = free_port(), free_port()
    two = SecondIssuer(
        issuer=f"http://{HOST}:{idp_port}",
        # nothing listens there: the tests stop at the redirect and take the code themselves
        bff_public_url=f"http://{HOST}:{free_port()}",
        bff_client_secret=secrets.token_urlsafe(32),
        api_url=f"http://{HOST}:{api_port}",
    )
    env = {
        **_without_dot(_clean_env()),
        "OIDC_HOST": HOST,
        "OIDC_PORT": str(idp_port),
        "OIDC_ISSUER": two.issuer,
        "OIDC_BFF_CLIENT_ID": BFF_CLIENT_ID,
        "OIDC_BFF_CLIENT_SECRET": two.bff_client_secret,
        "OIDC_BFF_PUBLIC_URL": two.bff_public_url,
        "OIDC_SERVICE_CLIENT_SECRET": secrets.token_urlsafe(32),
        "OIDC_API_AUDIENCE": JWT_AUDIENCE,
    }
    node = ServiceSpec(
        name="oidc-provider",
        argv=[shutil.which("node") or "node", "server.mjs"],
        env=env,
        cwd=PROVIDER_DIR,
        ready_url=f"{two.issuer}/.well-known/openid-configuration",
        ready_timeout_s=READY_TIMEOUT_S,
        log_path=opaque.log_dir / "oidc-provider.log",
    )
    with throwaway_database() as database_url:
        try:
            opaque.stack.start(node)
            opaque.stack.start(
                opaque.api_spec(
                    name="resource-api-two-issuers",
                    port=api_port,
                    database_url=database_url,
                    issuers=(opaque.issuer, two.issuer),
                    audiences=(opaque.audience, JWT_AUDIENCE),
                )
            )
            yield two
        finally:
            opaque.stack.stop("resource-api-two-issuers")
            opaque.stack.stop("oidc-provider")
