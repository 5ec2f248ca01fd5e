"""`shared.errors`: one tree, RFC 6750 codes, HTTP statuses for the edges."""

import pytest

from shared import (
    AuthError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    ProviderError,
    SharedError,
)


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (InvalidToken, "invalid_token", 401),
        (InsufficientScope, "insufficient_scope", 403),
        (InvalidRequest, "invalid_request", 400),
        (ProviderError, "provider_unavailable", 503),
        (SharedError, "server_error", 500),
    ],
)
def test_codes_and_statuses(cls: type[SharedError], code: str, status: int) -> None:
    exc = cls("why")
    assert isinstance(exc, SharedError)
    assert (exc.error, exc.status_code, exc.description, str(exc)) == (code, status, "why", "why")
    assert code in repr(exc)


def test_auth_errors_share_a_branch() -> None:
    assert issubclass(InvalidToken, AuthError)
    assert issubclass(InsufficientScope, AuthError)
    assert not issubclass(ProviderError, AuthError)
