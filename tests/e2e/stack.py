"""The real system for end-to-end tests: the development provider (node), the resource API on
a throwaway PostgreSQL database and the BFF, as subprocesses on free loopback ports.

Logs go to `test-artifacts/e2e/<stack>/`, kept after the run for CI to collect.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bff.keyring import generate_key
from infra.stack import ServiceSpec, Stack, free_port, python_module
from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "infra" / "oidc-provider"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
HOST = "127.0.0.1"

API_AUDIENCE = "urn:inventory-api"
BFF_CLIENT_ID = "bff"
SERVICE_CLIENT_ID = "inventory-service"

#: Generous: CI machines are small and busy, in seconds.
READY_TIMEOUT_S = 120.0


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh PostgreSQL database; yields its SQLAlchemy asyncpg URL and drops it after."""
    with pg.throwaway_database("e2e") as name:
        yield pg.sqlalchemy_url(name)


@dataclass
class E2EStack:
    """Where everything listens, and the secrets it was started with."""

    name: str
    idp_port: int
    api_port: int
    bff_port: int
    bff_client_secret: str
    service_client_secret: str
    session_keys: str
    access_token_ttl_s: int
    database_url: str
    log_dir: Path
    stack: Stack = field(repr=False)
    bff_extra_env: dict[str, str] = field(default_factory=dict, repr=False)
    api_extra_env: dict[str, str] = field(default_factory=dict, repr=False)
    #: where the provider process listens, when a relay serves `idp_port` (the issuer's port)
    provider_port: int | None = None

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.idp_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def bff_url(self) -> str:
        return f"http://{HOST}:{self.bff_port}"

    def provider_stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.issuer}/__test/stats", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def service_token(self, scope: str = "inventory:read") -> str:
        """A client-credentials access token for the API, straight from the provider."""
        response = httpx.post(
            f"{self.issuer}/token",
            auth=(SERVICE_CLIENT_ID, self.service_client_secret),
            data={"grant_type": "client_credentials", "scope": scope, "resource": API_AUDIENCE},
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    # -- process specs ---------------------------------------------------------------------

    def provider_spec(self) -> ServiceSpec:
        env = {
            **_clean_env(),
            "OIDC_HOST": HOST,
            "OIDC_PORT": str(self.provider_port or self.idp_port),
            "OIDC_ISSUER": self.issuer,
            "OIDC_BFF_CLIENT_ID": BFF_CLIENT_ID,
            "OIDC_BFF_CLIENT_SECRET": self.bff_client_secret,
            "OIDC_BFF_PUBLIC_URL": self.bff_url,
            "OIDC_SERVICE_CLIENT_ID": SERVICE_CLIENT_ID,
            "OIDC_SERVICE_CLIENT_SECRET": self.service_client_secret,
            "OIDC_API_AUDIENCE": API_AUDIENCE,
            "OIDC_ACCESS_TOKEN_TTL_S": str(self.access_token_ttl_s),
            "OIDC_TEST_MODE": "1",
        }
        return ServiceSpec(
            name="provider",
            argv=[shutil.which("node") or "node", "server.mjs"],
            env=env,
            cwd=PROVIDER_DIR,
            ready_url=f"http://{HOST}:{self.provider_port or self.idp_port}"
            "/.well-known/openid-configuration",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / "provider.log",
        )

    def api_spec(self) -> ServiceSpec:
        env = {
            **_app_env(),
            "API_OIDC_ISSUER": self.issuer,
            "API_AUDIENCE": API_AUDIENCE,
            "API_DATABASE_URL": self.database_url,
            "API_HOST": HOST,
            "API_PORT": str(self.api_port),
            "API_SERVICE_CLIENTS": SERVICE_CLIENT_ID,
            "API_ADMIN_GROUPS": "admin",
            **self.api_extra_env,
        }
        return ServiceSpec(
            name="resource-api",
            argv=python_module("resource_api", "serve"),
            env=env,
            cwd=self.log_dir,
            ready_url=f"{self.api_url}/health",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / "resource-api.log",
        )

    def bff_spec(self, port: int | None = None, name: str = "bff") -> ServiceSpec:
        env = {
            **_app_env(),
            "BFF_OIDC_ISSUER": self.issuer,
            "BFF_CLIENT_ID": BFF_CLIENT_ID,
            "BFF_CLIENT_SECRET": self.bff_client_secret,
            "BFF_PUBLIC_URL": self.bff_url,
            "BFF_SESSION_KEYS": self.session_keys,
            "BFF_UPSTREAM_URL": self.api_url,
            "BFF_RESOURCE": API_AUDIENCE,
            "BFF_HOST": HOST,
            "BFF_PORT": str(port or self.bff_port),
            **self.bff_extra_env,
        }
        return ServiceSpec(
            name=name,
            argv=python_module("bff", "serve"),
            env=env,
            cwd=self.log_dir,
            ready_url=f"http://{HOST}:{port or self.bff_port}/readyz",
            ready_timeout_s=READY_TIMEOUT_S,
            log_path=self.log_dir / f"{name}.log",
        )

    def start_another_bff(self, name: str) -> str:
        """A second BFF instance (same settings, another port); returns its URL. Its public
        URL stays the first one's, as behind a load balancer."""
        port = free_port()
        self.stack.start(self.bff_spec(port=port, name=name))
        return f"http://{HOST}:{port}"

    def restart_bff(self, session_keys: str) -> None:
        """Stop the BFF and start it again with another `BFF_SESSION_KEYS`."""
        self.stack.stop("bff")
        self.session_keys = session_keys
        self.stack.start(self.bff_spec())


def _clean_env() -> dict[str, str]:
    # The developer's own BFF_*/API_*/OIDC_* settings must not leak into the stack.
    return {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "API_", "OIDC_"))}


def _app_env() -> dict[str, str]:
    # The apps run in their log directory, not the repository root, so a developer's `.env`
    # there is not read either; PYTHONPATH keeps `python -m bff` importable.
    env = _clean_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextmanager
def running_stack(
    name: str, *, access_token_ttl_s: int = 300, bff_env: dict[str, str] | None = None
) -> Iterator[E2EStack]:
    log_dir = ARTIFACTS / name
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.mkdir(parents=True)
    with throwaway_database() as database_url, Stack() as stack:
        e2e = E2EStack(
            name=name,
            idp_port=free_port(),
            api_port=free_port(),
            bff_port=free_port(),
            bff_client_secret=secrets.token_urlsafe(32),
            service_client_secret=secrets.token_urlsafe(32),
            session_keys=generate_key("e2e1"),
            access_token_ttl_s=access_token_ttl_s,
            database_url=database_url,
            log_dir=log_dir,
            stack=stack,
            bff_extra_env=dict(bff_env or {}),
        )
        stack.start(e2e.provider_spec())
        stack.start(e2e.api_spec())
        stack.start(e2e.bff_spec())
        yield e2e


new_session_key = generate_key
