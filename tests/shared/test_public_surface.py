"""`shared/__init__.py` is the whole public surface: pinned here, name by name."""

import subprocess
import sys
from pathlib import Path

import shared

PUBLIC = {
    # errors (shared.errors)
    "SharedError",
    "InvalidToken",
    "ProviderError",
    "SettingsError",
    # time, encoding, text
    "Clock",
    "system_clock",
    "b64url_decode",
    "b64url_encode",
    "log_text",
    # provider: discovery, fetch policy, keys, introspection
    "MetadataCache",
    "ProviderMetadata",
    "check_issuer",
    "is_loopback_host",
    "RetryPolicy",
    "JWKSCache",
    "SUPPORTED_ALGORITHMS",
    "Introspector",
    "basic_authorization",
    # tokens and callers
    "TokenProfile",
    "TokenVerifier",
    "VerifiedToken",
    "looks_like_jws",
    "check_nonce",
    "Principal",
    "DEFAULT_GROUPS_CLAIMS",
    # settings
    "describe",
    "load_or_exit",
    # concurrency
    "KeyedSingleFlight",
    # request id and access log
    "RequestLogMiddleware",
    "RequestIdFilter",
    "current_request_id",
    # log configuration and audit events
    "configure_logging",
    "audit",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(shared.__all__) == PUBLIC
    assert len(shared.__all__) == len(PUBLIC)  # no name twice


def test_every_name_resolves_to_what_its_module_defines() -> None:
    for name in shared.__all__:
        value = getattr(shared, name)
        module = getattr(value, "__module__", None)
        if module is not None and module.startswith("shared."):
            # defined in a submodule, not re-wrapped on the way out
            assert getattr(sys.modules[module], name) is value, name


def test_star_import_gives_the_surface_and_nothing_else() -> None:
    namespace: dict[str, object] = {}
    exec("from shared import *", namespace)  # noqa: S102 - a fixed literal
    assert set(namespace) - {"__builtins__"} == PUBLIC


def test_importing_shared_imports_neither_a_framework_nor_an_app() -> None:
    # STYLE rule 1: bff -> shared <- resource_api; a fresh interpreter, so what other
    # tests imported does not count
    code = (
        "import sys, shared\n"
        "bad = ('starlette', 'litestar', 'bff', 'resource_api', 'fastapi', 'uvicorn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    root = Path(shared.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=root,
    )
    assert out.stdout.strip() == "[]"
