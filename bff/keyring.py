"""Sealing with a key ring: AES-256-GCM in a compact JWE (RFC 7516, `dir` + `A256GCM`).

The first key seals; every key opens (key rotation). The protected header carries the
`kid` and a `typ` naming the purpose, so a login-transaction value can never be opened as a
session and the other way round (the header is authenticated as AAD, RFC 7516 §5.1 (14)).
"""

import base64
import json
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from bff.b64 import b64url_decode
from bff.settings import SessionKey

_REGISTRY = jwe.JWERegistry(algorithms=["dir", "A256GCM"])
#: Anything larger cannot be a value we sealed (4 chunks of cookie plus slack), 64 KiB.
MAX_SEALED_BYTES = 64 * 1024
#: Decompressed payloads above this are refused (zip-bomb guard), 256 KiB.
MAX_PLAIN_BYTES = 256 * 1024
#: Our protected header (`alg`, `enc`, `kid`, `typ`) is about 100 characters in base64url;
#: a longer one is not ours and is never parsed (deeply nested JSON raises RecursionError).
MAX_HEADER_CHARS = 512


def generate_key(kid: str | None = None) -> str:
    """A fresh `KID:SECRET` entry for `BFF_SESSION_KEYS`: 256 random bits, base64url."""
    kid = kid or "k" + secrets.token_hex(4)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"{kid}:{secret}"


@dataclass(frozen=True)
class Opened:
    payload: dict[str, Any]
    #: True when sealed with a key other than the current first one: reseal it.
    stale_key: bool


class KeyRing:
    def __init__(self, keys: Sequence[SessionKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._keys = {k.kid: OctKey.import_key(k.secret, {"kid": k.kid}) for k in keys}
        self._first = keys[0].kid

    def seal(self, payload: dict[str, Any], purpose: str) -> str:
        plain = json.dumps(payload, separators=(",", ":")).encode()
        # Compress before encrypting so sessions fit in fewer cookies. The contents are
        # tokens and provider claims, never text an attacker can vary and re-observe, so the
        # CRIME/BREACH length side channel has nothing to work with.
        header = {"alg": "dir", "enc": "A256GCM", "kid": self._first, "typ": purpose}
        return jwe.encrypt_compact(
            header, zlib.compress(plain, 6), self._keys[self._first], registry=_REGISTRY
        )

    def open(self, value: str, purpose: str) -> Opened | None:
        """The payload, or None for anything we did not seal for `purpose` with a known key."""
        if len(value) > MAX_SEALED_BYTES or value.count(".") != 4:
            return None
        encoded_header = value.split(".", 1)[0]
        if len(encoded_header) > MAX_HEADER_CHARS:
            return None
        try:
            header = json.loads(b64url_decode(encoded_header))
            kid = header.get("kid") if isinstance(header, dict) else None
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None or header.get("typ") != purpose:
                return None
            opened = jwe.decrypt_compact(value, key, registry=_REGISTRY)
            inflater = zlib.decompressobj()
            plain = inflater.decompress(opened.plaintext or b"", MAX_PLAIN_BYTES)
            if inflater.unconsumed_tail:
                return None
            payload = json.loads(plain)
        except (JoseError, ValueError, TypeError, zlib.error, RecursionError):
            # UnicodeDecodeError is a ValueError; RecursionError: nested JSON in a payload
            return None
        if not isinstance(payload, dict):
            return None
        return Opened(payload=payload, stale_key=kid != self._first)
