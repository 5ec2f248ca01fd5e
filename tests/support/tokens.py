"""Test-only token minting: signing keys, a JWKS document and signed JWTs."""

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

ISSUER = "https://idp.test"
AUDIENCE = "https://api.test"

SigningKey = RSAKey | ECKey | OKPKey


def generate_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    params = {"kid": kid, "use": "sig", "alg": alg}
    if alg.startswith(("RS", "PS")):
        return RSAKey.generate_key(2048, parameters=params)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=params)
    raise ValueError(alg)


@dataclass
class TokenFactory:
    """Mints tokens for one issuer with a set of keys; `jwks()` is the public JWKS document."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    keys: list[SigningKey] = field(default_factory=lambda: [generate_key("RS256", "rsa-1")])

    def jwks(self) -> dict[str, Any]:
        return KeySet(self.keys).as_dict(private=False)

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
        body.update(claims or {})
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        alg = key.alg or "RS256"
        hdr = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
        hdr.update(header or {})
        hdr = {k: v for k, v in hdr.items() if v is not None}
        return jwt.encode(hdr, body, key, algorithms=[hdr["alg"]])
