"""`shared.errors`: one tree of short codes and descriptions, and no HTTP in it."""

import pytest

from shared import InvalidToken, ProviderError, SettingsError, SharedError


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (InvalidToken, "invalid_token"),
        (ProviderError, "provider_unavailable"),
        (SharedError, "server_error"),
    ],
)
def test_codes_and_descriptions(cls: type[SharedError], code: str) -> None:
    exc = cls("why")
    assert isinstance(exc, SharedError)
    assert (exc.error, exc.description, str(exc)) == (code, "why", "why")
    assert code in repr(exc)


def test_settings_error_keeps_one_line_per_problem() -> None:
    exc = SettingsError(["X_A: is required", "X_B: is invalid"])
    assert isinstance(exc, SharedError)
    assert exc.error == "invalid_settings"
    assert exc.problems == ["X_A: is required", "X_B: is invalid"]
    assert exc.description == "X_A: is required\nX_B: is invalid"


@pytest.mark.parametrize("cls", [SharedError, InvalidToken, ProviderError, SettingsError])
def test_no_http_status_in_the_tree(cls: type[SharedError]) -> None:
    # translation to HTTP happens at each application's edge, never here
    assert not hasattr(cls, "status_code")
    assert not hasattr(cls, "status")


def test_the_branches_are_disjoint() -> None:
    assert not issubclass(InvalidToken, ProviderError)
    assert not issubclass(ProviderError, InvalidToken)
    assert not issubclass(SettingsError, (InvalidToken, ProviderError))
