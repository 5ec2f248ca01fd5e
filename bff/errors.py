"""The BFF's one error tree: everything it raises on purpose is a `BFFError`.

Each error carries a short machine `error` code, the HTTP `status` it answers with and a
`description` the client may read (JSON `error_description`). The exception's message
(`reason`) is for logs and debugging only: provider text and the grounds of a refusal stay
out of every response. `bff.responses` turns an error into JSON or the HTML error page;
each code below is written once.
"""

#: where an API client without a usable session should send the browser
LOGIN_URL = "/auth/login"


class BFFError(Exception):
    """Root of the tree: `error` code, HTTP `status`, client-readable `description`."""

    #: set on errors that mean "sign in again": the JSON answer says where
    login_url: str | None = None

    def __init__(self, error: str, status: int, description: str = "", *, reason: str = "") -> None:
        super().__init__(reason or description or error)
        self.error = error
        self.status = status
        self.description = description

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error={self.error!r}, status={self.status})"


class Unauthenticated(BFFError):
    """No valid session (SPEC: 401 `unauthenticated` with `login_url`)."""

    login_url = LOGIN_URL

    def __init__(self) -> None:
        super().__init__("unauthenticated", 401)


class RefreshFailed(BFFError):
    """The session cannot go on (`invalid_grant`, no refresh token, an unusable answer):
    it ends (SPEC: 401 `session_expired`)."""

    login_url = LOGIN_URL

    def __init__(self, reason: str) -> None:
        super().__init__("session_expired", 401, reason=reason)


class StoreUnavailable(BFFError):
    """Redis (sessions, revocations, one-time markers, the refresh lock) cannot be reached:
    no session can be trusted now, but none has ended either (503, retry later)."""

    def __init__(self) -> None:
        super().__init__("session_store_unavailable", 503)


class CrossSite(BFFError):
    """`Sec-Fetch-Site: cross-site` on an API call (SPEC "CSRF")."""

    def __init__(self) -> None:
        super().__init__("forbidden", 403, "cross-site request refused")


class CSRFRequired(BFFError):
    """A request that may change state without `X-CSRF: 1` (SPEC "CSRF")."""

    def __init__(self) -> None:
        super().__init__("csrf", 403, "X-CSRF: 1 header required")


class InvalidPath(BFFError):
    """An `/api` path or query the proxy will not forward; `description` says why."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_path", 400, description)


class UpstreamUnavailable(BFFError):
    def __init__(self, reason: str) -> None:
        super().__init__("upstream_unavailable", 502, reason=reason)


class UpstreamTimeout(BFFError):
    def __init__(self) -> None:
        super().__init__("upstream_timeout", 504)


class ProviderUnavailable(BFFError):
    """Network failure, timeout, 5xx, 408/425/429, `temporarily_unavailable`, or provider
    metadata that cannot be loaded: nothing is known about the grant (502; 504 on a timeout)."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        super().__init__("provider_unavailable", 504 if timeout else 502, reason=reason)
        self.timeout = timeout


class OAuthFailure(BFFError):
    """The provider answered with an OAuth error (RFC 6749 §5.2, §4.1.2.1) or an unusable
    body. `error` is its code (check it before logging it); its text is only the reason."""

    def __init__(self, error: str, reason: str = "") -> None:
        super().__init__(error, 400, reason=reason)


class SessionTooLarge(BFFError):
    """The session would not fit the cookie budget; login refuses it."""

    def __init__(self, reason: str) -> None:
        super().__init__("session_too_large", 400, reason=reason)


class LoginFailed(BFFError):
    """A sign-in that cannot go on; the error page shows the code alone."""

    def __init__(self, error: str, *, reason: str = "") -> None:
        super().__init__(error, 400, reason=reason)


class LogoutTokenRefused(BFFError):
    """OIDC Back-Channel Logout 1.0 §2.8: 400 with an OAuth-style JSON error."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_request", 400, description[:200])
