"""Reporting invalid settings the way SPEC asks: every problem at once, one line each
naming the variable (`BFF_SESSION_KEYS: ...`), exit status 2, no traceback."""

import sys
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

from shared.errors import SettingsError

__all__ = ["EXIT_CONFIG", "SettingsError", "describe", "load_or_exit"]

T = TypeVar("T")

#: SPEC "Processes and commands": missing or invalid settings exit with status 2.
EXIT_CONFIG = 2


def describe(exc: ValidationError, prefix: str) -> list[str]:
    """One line per problem in `exc`, each naming its environment variable."""
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        names = [part for part in error["loc"] if isinstance(part, str)]
        message = "is required" if error["type"] == "missing" else str(error["msg"])
        lines = message.removeprefix("Value error, ").splitlines() or ["is invalid"]
        if names:
            problems += [f"{prefix}{names[0].upper()}: {line}" for line in lines]
        else:  # a model-level check names its own variables
            problems += lines
    return problems


def load_or_exit(load: Callable[[], T]) -> T:
    """`load()`, or print its problems to stderr and exit with status 2.

    Raises `SystemExit(2)` when `load` raises `SettingsError`; anything else `load`
    raises passes through.
    """
    try:
        return load()
    except SettingsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
