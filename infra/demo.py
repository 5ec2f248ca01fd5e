"""`make demo`: the development provider, the resource API on SQLite and the BFF on loopback.

Secrets (client secrets, the session key) are generated at every start and never written
to disk. Ctrl-C (SIGINT) or SIGTERM stops every process this started, then exits 0.

Settings: DEMO_IDP_PORT (9100), DEMO_API_PORT (8001), DEMO_BFF_PORT (8000), and
DEMO_DATABASE_URL to put the resource API somewhere other than its SQLite default.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DIR = ROOT / "infra" / "oidc-provider"

if str(ROOT) not in sys.path:  # run as a script: make `infra.stack` importable
    sys.path.insert(0, str(ROOT))

from bff.keyring import generate_key  # noqa: E402
from infra.stack import ServiceSpec, Stack, StartError, port_is_free, python_module  # noqa: E402

HOST = "127.0.0.1"
API_AUDIENCE = "urn:inventory-api"
BFF_CLIENT_ID = "bff"
SERVICE_CLIENT_ID = "inventory-service"
USERS = (
    ("alice", "member"),
    ("bob", "member"),
    ("admin", "in group admin"),
)


class DemoError(Exception):
    """Something the developer has to fix before the demo can run; the message says what."""


@dataclass(frozen=True)
class Ports:
    idp: int
    api: int
    bff: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        def port(name: str, default: int) -> int:
            raw = env.get(name, "") or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DemoError(f"{name}: {raw!r} is not a TCP port")
            return int(raw)

        ports = cls(
            idp=port("DEMO_IDP_PORT", 9100),
            api=port("DEMO_API_PORT", 8001),
            bff=port("DEMO_BFF_PORT", 8000),
        )
        if len({ports.idp, ports.api, ports.bff}) != 3:
            raise DemoError("DEMO_IDP_PORT, DEMO_API_PORT and DEMO_BFF_PORT must differ")
        return ports


@dataclass(frozen=True)
class Secrets:
    bff_client_secret: str
    service_client_secret: str
    session_key: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            bff_client_secret=secrets.token_urlsafe(32),
            service_client_secret=secrets.token_urlsafe(32),
            session_key=session_key(),
        )


def session_key(kid: str = "demo") -> str:
    """A fresh `BFF_SESSION_KEYS` entry, made as `python -m bff keys generate` makes it."""
    return generate_key(kid)


def _base_env() -> dict[str, str]:
    # Settings of a developer's shell must not leak into the demo's processes.
    return {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "API_", "OIDC_"))}


def provider_env(ports: Ports, keys: Secrets) -> dict[str, str]:
    bff_url = f"http://{HOST}:{ports.bff}"
    return {
        **_base_env(),
        "OIDC_HOST": HOST,
        "OIDC_PORT": str(ports.idp),
        "OIDC_ISSUER": f"http://{HOST}:{ports.idp}",
        "OIDC_BFF_CLIENT_ID": BFF_CLIENT_ID,
        "OIDC_BFF_CLIENT_SECRET": keys.bff_client_secret,
        "OIDC_BFF_PUBLIC_URL": bff_url,
        "OIDC_SERVICE_CLIENT_ID": SERVICE_CLIENT_ID,
        "OIDC_SERVICE_CLIENT_SECRET": keys.service_client_secret,
        "OIDC_API_AUDIENCE": API_AUDIENCE,
    }


def api_env(ports: Ports, database_url: str | None = None) -> dict[str, str]:
    env = {
        **_base_env(),
        "API_OIDC_ISSUER": f"http://{HOST}:{ports.idp}",
        "API_AUDIENCE": API_AUDIENCE,
        "API_HOST": HOST,
        "API_PORT": str(ports.api),
        "API_SERVICE_CLIENTS": SERVICE_CLIENT_ID,
        "API_ADMIN_GROUPS": "admin",
    }
    # Default: the resource API's own SQLite default, ./var/resource_api.db.
    if database_url:
        env["API_DATABASE_URL"] = database_url
    return env


def bff_env(ports: Ports, keys: Secrets) -> dict[str, str]:
    return {
        **_base_env(),
        "BFF_OIDC_ISSUER": f"http://{HOST}:{ports.idp}",
        "BFF_CLIENT_ID": BFF_CLIENT_ID,
        "BFF_CLIENT_SECRET": keys.bff_client_secret,
        "BFF_PUBLIC_URL": f"http://{HOST}:{ports.bff}",
        "BFF_SESSION_KEYS": keys.session_key,
        "BFF_UPSTREAM_URL": f"http://{HOST}:{ports.api}",
        "BFF_RESOURCE": API_AUDIENCE,
        "BFF_HOST": HOST,
        "BFF_PORT": str(ports.bff),
    }


def check_prerequisites(ports: Ports) -> None:
    """Raise `DemoError` naming the first thing missing."""
    if shutil.which("node") is None:
        raise DemoError("Node.js (>= 20) is not on PATH; the development provider needs it")
    for name, port in (
        ("DEMO_IDP_PORT", ports.idp),
        ("DEMO_API_PORT", ports.api),
        ("DEMO_BFF_PORT", ports.bff),
    ):
        if not port_is_free(HOST, port):
            raise DemoError(f"{HOST}:{port} is in use; stop what runs there or set {name}")


def ensure_node_modules() -> None:
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise DemoError("npm is not on PATH; run `make install-node` or install Node.js >= 20")
    print("Installing the development provider (npm ci)...", flush=True)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROVIDER_DIR, check=True
    )


def services(ports: Ports, keys: Secrets, database_url: str | None = None) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="provider",
            argv=[shutil.which("node") or "node", "server.mjs"],
            env=provider_env(ports, keys),
            cwd=PROVIDER_DIR,
            ready_url=f"http://{HOST}:{ports.idp}/.well-known/openid-configuration",
        ),
        ServiceSpec(
            name="resource-api",
            argv=python_module("resource_api", "serve"),
            env=api_env(ports, database_url),
            cwd=ROOT,
            ready_url=f"http://{HOST}:{ports.api}/health",
        ),
        ServiceSpec(
            name="bff",
            argv=python_module("bff", "serve"),
            env=bff_env(ports, keys),
            cwd=ROOT,
            ready_url=f"http://{HOST}:{ports.bff}/readyz",
        ),
    ]


def banner(ports: Ports) -> str:
    users = "\n".join(f"    {name:<6} {role}" for name, role in USERS)
    return (
        "\n"
        "  Demo is running (loopback only):\n"
        f"    app (BFF + demo SPA)   http://{HOST}:{ports.bff}\n"
        f"    resource API (SQLite)  http://{HOST}:{ports.api}\n"
        f"    OpenID provider        http://{HOST}:{ports.idp}\n"
        "\n"
        "  Sign in as (any password):\n"
        f"{users}\n"
        "\n"
        "  Press Ctrl-C to stop everything.\n"
    )


def run() -> int:
    ports = Ports.from_env(os.environ)
    check_prerequisites(ports)
    ensure_node_modules()
    (ROOT / "var").mkdir(exist_ok=True)  # the resource API's SQLite file lives here
    keys = Secrets.generate()

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with Stack() as stack:
        for spec in services(ports, keys, os.environ.get("DEMO_DATABASE_URL") or None):
            if stop.is_set():
                break
            print(f"Starting {spec.name}...", flush=True)
            stack.start(spec, cancel=stop)
        if not stop.is_set():
            print(banner(ports), flush=True)
        while not stop.wait(0.5):
            if exited := stack.exited():
                name, code = exited[0]
                print(f"{name} exited with status {code}; stopping the demo.", file=sys.stderr)
                return 1
        print("Stopping...", flush=True)
    print("Stopped.", flush=True)
    return 0


def main() -> int:
    try:
        return run()
    except (DemoError, StartError) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
