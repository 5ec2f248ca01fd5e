"""Request guards: CSRF (SPEC "CSRF") and `returnTo` validation.

CSRF defence is layered (draft-ietf-oauth-browser-based-apps §6.1.3.2): SameSite session
cookies, Fetch Metadata (`Sec-Fetch-Site: cross-site` is always refused), and a custom
`X-CSRF: 1` header that a cross-site page cannot send without a CORS preflight we never
grant. Safe same-origin requests are exempt so downloads and `EventSource` work.
"""

import re
from collections.abc import Mapping

SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_RETURN_TO = 2048
# printable ASCII only: no controls (CR/LF/TAB/NUL), no spaces, no backslash
_RETURN_TO_CHARS = re.compile(r"^[!-\[\]-~]+$")
# percent-encodings that would decode into '/', '\' or a control character
_ENCODED_DANGER = re.compile(r"%(2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)
_PROMPT_VALUE = r"(none|login|consent|select_account|create)"
_PROMPT = re.compile(rf"^{_PROMPT_VALUE}( {_PROMPT_VALUE})*$")


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


def safe_return_to(value: str | None) -> str | None:
    """`value` when it is a same-origin path, else None (SPEC: GET /auth/login).

    Open-redirect defence (RFC 9700 §4.11): exactly one leading '/', no '//', no '\\',
    no scheme, no control characters, also not hidden behind percent-encoding.
    """
    if value is None or value == "":
        return "/"
    if len(value) > MAX_RETURN_TO or not _RETURN_TO_CHARS.match(value):
        return None
    if not value.startswith("/") or value.startswith("//") or "//" in value:
        return None
    if _ENCODED_DANGER.search(value):
        return None
    return value


def valid_prompt(value: str | None) -> bool:
    return value is None or bool(_PROMPT.match(value))
