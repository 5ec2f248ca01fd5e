"""Test-only token minting: signing keys, a JWKS document and signed JWTs.

Also the raw-forging helpers the attack tests need, for tokens joserfc refuses to make
(HS256 keyed with an RSA public key, `alg: none`, arbitrary headers).
"""

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeyParameters, KeySet, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from shared import b64url_encode

ISSUER = "https://idp.test"
AUDIENCE = "https://api.test"

SigningKey = RSAKey | ECKey | OKPKey

_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def generate_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    params: KeyParameters = {"kid": kid, "use": "sig", "alg": alg}
    if alg.startswith(("RS", "PS")):
        return RSAKey.generate_key(2048, parameters=params)
    if alg in _EC_CURVES:
        return ECKey.generate_key(_EC_CURVES[alg], parameters=params)
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519", parameters=params)
    raise ValueError(alg)


def b64url(data: bytes | str | Mapping[str, Any]) -> str:
    """base64url without padding (RFC 7515 §2) of bytes, text or a JSON object."""
    if isinstance(data, Mapping):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return b64url_encode(data)


def forge_hs256(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with `secret`, built by hand (joserfc refuses this misuse)."""
    signing_input = f"{b64url(header)}.{b64url(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def forge_unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """An `alg: none` style token: header and payload with an empty signature."""
    return f"{b64url(header)}.{b64url(claims)}."


def sign_raw(
    header: Mapping[str, Any],
    payload: bytes | Mapping[str, Any],
    key: SigningKey,
    alg: str | None = None,
) -> str:
    """Sign exactly `header` and `payload` with `key`, bypassing joserfc's header checks.

    For attack tokens whose headers a careful library refuses to produce (`crit`, `jku`,
    `b64`...). The signature is genuine, so only the verifier's own rules can reject them.
    `alg` names the algorithm when the header has no usable one.
    """
    model = JWSRegistry.algorithms[alg or header["alg"]]
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(model.sign(signing_input.encode(), key))}"


def public_pem(key: RSAKey | ECKey | OKPKey) -> bytes:
    """The public key in PEM (SubjectPublicKeyInfo), the bytes a confused verifier would use."""
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class TokenFactory:
    """Mints tokens for one issuer with a set of keys; `jwks()` is the public JWKS document."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    keys: list[SigningKey] = field(default_factory=lambda: [generate_key("RS256", "rsa-1")])

    def jwks(self) -> dict[str, Any]:
        members: list[Key] = [*self.keys]
        return {**KeySet(members).as_dict(private=False)}

    def claims(
        self, *, now: float | None = None, lifetime_s: int = 300, **overrides: Any
    ) -> dict[str, Any]:
        """The default claims of `mint`, with overrides; a `None` override removes a claim."""
        now = time.time() if now is None else now
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "user-1",
            "iat": int(now),
            "exp": int(now) + lifetime_s,
            "jti": uuid.uuid4().hex,
            "scope": "openid profile",
        }
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def mint(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
        header: Mapping[str, Any] | None = None,
        now: float | None = None,
        lifetime_s: int = 300,
        **overrides: Any,
    ) -> str:
        key = key or self.keys[0]
        body = self.claims(now=now, lifetime_s=lifetime_s, **{**(claims or {}), **overrides})
        alg = key.alg or "RS256"
        hdr: dict[str, Any] = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
        hdr.update(header or {})
        hdr = {k: v for k, v in hdr.items() if v is not None}
        return jwt.encode(hdr, body, key, algorithms=[str(hdr["alg"])], default_type=None)
