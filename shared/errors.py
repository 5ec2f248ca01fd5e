"""The one error tree of `shared`.

Every error carries a short machine `error` code and a human `description`. The
`AuthError` branch maps onto RFC 6750 §3.1 error codes; `ProviderError` means the
OpenID provider (discovery or JWKS) could not be used, which callers surface as 503.
Descriptions never contain a token, a key or a secret.
"""


class SharedError(Exception):
    """Root of every exception raised on purpose by `shared`."""

    error: str = "server_error"
    #: the HTTP status an application edge should answer with
    status_code: int = 500

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error={self.error!r}, description={self.description!r})"


class AuthError(SharedError):
    """A request's credentials were refused (RFC 6750 §3.1)."""

    error = "invalid_request"
    status_code = 400


class InvalidRequest(AuthError):
    error = "invalid_request"
    status_code = 400


class InvalidToken(AuthError):
    error = "invalid_token"
    status_code = 401


class InsufficientScope(AuthError):
    error = "insufficient_scope"
    status_code = 403


class ProviderError(SharedError):
    """Discovery or JWKS could not be fetched or was unacceptable."""

    error = "provider_unavailable"
    status_code = 503
