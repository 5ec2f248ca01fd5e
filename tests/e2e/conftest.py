"""Fixtures for the end-to-end tests: the real provider, resource API and BFF (see stack.py).

Every test here is marked `e2e`; `pytest -m "not e2e"` skips them.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import Browser
from tests.e2e.stack import PROVIDER_DIR, E2EStack, running_stack


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return "infra/oidc-provider has no node_modules: run `make install-node`"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = _missing()
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"e2e: {reason}"))


@pytest.fixture(scope="session")
def stack() -> Iterator[E2EStack]:
    """The shared stack (access tokens live 5 minutes). Tests use fresh user names."""
    with running_stack("shared") as running:
        yield running


@pytest.fixture
def browser(stack: E2EStack) -> Iterator[Browser]:
    with Browser(stack.bff_url) as b:
        yield b


@pytest.fixture
def user_name() -> str:
    """A login name no other test uses: the provider accepts any, so data never collides."""
    return f"u{secrets.token_hex(4)}"
