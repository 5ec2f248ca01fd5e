"""The one error tree of `shared`.

Every error carries a short machine `error` code and a human `description`; none knows
an HTTP status: each application translates at its own edge (the resource API answers
`InvalidToken` with 401 and `ProviderError` with 503, the BFF shows its error page).
Descriptions never contain a token, a key or a secret.

    SharedError
    ├── InvalidToken     a token was refused (RFC 6750 §3.1 `invalid_token`)
    ├── ProviderError    the OpenID provider could not be used: discovery, JWKS,
    │                    introspection unreachable, failing or answering nonsense
    └── SettingsError    settings are missing or invalid (one line per variable)
"""


class SharedError(Exception):
    """Root of every exception raised on purpose by `shared`."""

    error: str = "server_error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error={self.error!r}, description={self.description!r})"


class InvalidToken(SharedError):
    """A token is unacceptable: malformed, badly signed, expired, inactive, not for us."""

    # RFC 6750 §3.1
    error = "invalid_token"


class ProviderError(SharedError):
    """The provider's discovery, JWKS or introspection could not be used; nothing is
    known about the token, so callers answer "unavailable, retry" and never accept."""

    error = "provider_unavailable"


class SettingsError(SharedError):
    """Settings are missing or invalid; `problems` holds one `PREFIX_NAME: problem` line each."""

    error = "invalid_settings"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
