"""base64url without padding (RFC 4648 §5), the encoding of JOSE (RFC 7515 §2) and of our
settings (`BFF_SESSION_KEYS`).

The standard library's `urlsafe_b64decode` silently skips characters outside the
alphabet (and accepts `+` and `/`), so two different strings could decode to the same
bytes; here only the base64url alphabet is read, with optional trailing `=` padding.
"""

import base64
import binascii
import re

__all__ = ["b64url_decode", "b64url_encode"]

# RFC 4648 §5 alphabet; RFC 7515 §2 omits the padding, which we still accept at the end
# (settings written by hand, other encoders) but nowhere else.
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_encode(data: bytes) -> str:
    """base64url of `data` without `=` padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url (RFC 4648 §5), with or without its `=` padding.

    Raises `binascii.Error` (a `ValueError`) for anything else: characters outside the
    alphabet (`+`, `/`, whitespace, non-ASCII), padding that is not at the end, or a
    length no encoding produces.
    """
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None:
        raise binascii.Error("not base64url")
    body = text.rstrip("=")
    if len(body) % 4 == 1:  # 6 bits cannot make a byte
        raise binascii.Error("not base64url: impossible length")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
