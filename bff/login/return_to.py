"""Where a login may send the browser back to (`returnTo`), and which `prompt` it may ask."""

import re
from urllib.parse import urlencode

MAX_RETURN_TO = 2048
# printable ASCII only: no controls (CR/LF/TAB/NUL), no spaces, no backslash
_RETURN_TO_CHARS = re.compile(r"^[!-\[\]-~]+$")
# percent-encodings that would decode into '/', '\' or a control character
_ENCODED_DANGER = re.compile(r"%(2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)
_PROMPT_VALUE = r"(none|login|consent|select_account|create)"
_PROMPT = re.compile(rf"^{_PROMPT_VALUE}( {_PROMPT_VALUE})*$")
#: `prompt=none` answers that mean "not signed in at the provider" (OIDC Core §3.1.2.6)
SILENT_LOGIN_ERRORS = frozenset(
    {"login_required", "interaction_required", "consent_required", "account_selection_required"}
)
#: query parameter added to `returnTo` when a silent login found no provider session
SILENT_LOGIN_MARKER = "auth_error"


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


def silent_login_failed(prompt: str | None, error: str) -> bool:
    """Whether a callback's `error` only says that a `prompt=none` login found nobody."""
    return "none" in (prompt or "").split() and error in SILENT_LOGIN_ERRORS


def with_silent_login_marker(return_to: str) -> str:
    """`return_to` with `auth_error=login_required` in its query, before any fragment."""
    path, hash_sign, fragment = return_to.partition("#")
    separator = "&" if "?" in path else "?"
    marker = urlencode({SILENT_LOGIN_MARKER: "login_required"})
    return f"{path}{separator}{marker}{hash_sign}{fragment}"
