"""base64url decoding as JOSE and our settings write it: padding optional."""

import base64


def b64url_decode(text: str) -> bytes:
    """Decode base64url (RFC 4648 §5) with or without its `=` padding.

    Raises `binascii.Error` (a `ValueError`) for text that is not base64url.
    """
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


__all__ = ["b64url_decode"]
