"""The CSRF rule (SPEC "CSRF"): Fetch Metadata and the `X-CSRF` header.

CSRF defence is layered (draft-ietf-oauth-browser-based-apps §6.1.3.2): SameSite session
cookies, Fetch Metadata (`Sec-Fetch-Site: cross-site` is always refused), and a custom
`X-CSRF: 1` header that a cross-site page cannot send without a CORS preflight we never
grant. Safe same-origin requests are exempt so downloads and `EventSource` work.
"""

from collections.abc import Mapping

SAFE_METHODS = frozenset({"GET", "HEAD"})


def cross_site(headers: Mapping[str, str]) -> bool:
    return headers.get("sec-fetch-site", "").lower() == "cross-site"


def csrf_ok(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a state-changing-capable request may proceed; refuses cross-site requests
    (`Sec-Fetch-Site: cross-site`) itself, so callers need not check `cross_site` first."""
    if cross_site(headers):
        return False
    if method in SAFE_METHODS and headers.get("sec-fetch-site", "").lower() == "same-origin":
        return True
    return headers.get("x-csrf") == "1"
