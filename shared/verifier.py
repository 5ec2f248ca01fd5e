"""JWT verification for access tokens (RFC 9068), ID tokens (OIDC Core §3.1.3.7) and
logout tokens (OIDC Back-Channel Logout 1.0 §2.6).

Signature verification and claims validation are separate steps. Every failure is
an `InvalidToken` (or `ProviderError` when no key set could ever be loaded); no
other exception escapes `TokenVerifier.verify`, whatever the input.
"""

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jws import JWSRegistry

from shared.clock import Clock, system_clock
from shared.errors import InvalidToken, SharedError
from shared.expiring import ExpiringLRU
from shared.jwks import _ALG_KEY, JWKSCache
from shared.profiles import (  # re-exported: callers import these from here too
    BACKCHANNEL_LOGOUT_EVENT,
    ClaimsCheck,
    TokenProfile,
    normalise_typ,
)

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "MAX_TOKEN_BYTES",
    "ClaimsCheck",
    "TokenProfile",
    "TokenVerifier",
    "VerifiedToken",
    "check_claims",
    "looks_like_jws",
    "normalise_typ",
]

logger = logging.getLogger(__name__)

#: Tokens larger than this are refused before any parsing (16 KiB).
MAX_TOKEN_BYTES = 16 * 1024
# RFC 8725 §3.1-3.2: never `none`, never HMAC with keys fetched from a JWKS.
_NEVER = frozenset({"none", "HS256", "HS384", "HS512"})
# RFC 8725 §3.10 / RFC 7515 §4.1.2-4.1.6: headers that let a token choose its own key.
_KEY_CHOOSING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# RFC 7515 §7.1: three base64url segments (RFC 4648 §5, no padding); a JWE has five.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){4}")
# the shape alone, empty segments included: an unsigned `header.payload.` is refused here,
# by the verifier, rather than sent to a provider as if it were opaque
_JWS_SHAPED = re.compile(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def looks_like_jws(token: str) -> bool:
    """Whether a bearer token has the shape of a compact JWS (RFC 7515 §7.1: three
    base64url segments) and so is for `TokenVerifier`; any other token is opaque, for
    `Introspector` (RFC 7662). The shape decides the route only; it proves nothing."""
    return _JWS_SHAPED.fullmatch(token) is not None


def check_claims(
    claims: Mapping[str, Any],
    profile: TokenProfile,
    *,
    issuer: str,
    now: float,
    leeway_s: int,
) -> None:
    """The claims rules every token shares, then the profile's own: `iss` exactly
    `issuer`, one of the profile's audiences in `aud`, `exp`, `nbf` and `iat` against
    `now` give or take `leeway_s` seconds, the profile's required claims.

    Used for signed tokens and for introspection answers alike (RFC 7662 §4: the
    protected resource checks them as it would a JWT's). Raises `InvalidToken`.
    """
    options: dict[str, Any] = {name: {"essential": True} for name in profile.required_claims}
    # RFC 7519 §4.1.1 / OIDC Core §3.1.3.7 (2): exact, case-sensitive issuer match
    options["iss"] = {"essential": True, "value": issuer}
    # RFC 7519 §4.1.3: reject unless one of our audiences is in aud
    options["aud"] = {"essential": True, "values": list(profile.audiences)}
    registry = jwt.JWTClaimsRegistry(now=int(now), leeway=leeway_s, **options)
    try:
        registry.validate(dict(claims))
    except JoseError as exc:
        raise InvalidToken(_describe(exc)) from None
    if profile.check is not None:
        profile.check(claims)


#: sha256 of the token, the profile, and the profile's check (compared by identity)
_CacheKey = tuple[bytes, TokenProfile, object]


@dataclass(frozen=True)
class VerifiedToken:
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def expires_at(self) -> float:
        """`exp` in Unix seconds; infinity without one (or past a float's range)."""
        if "exp" not in self.claims:
            return math.inf
        try:
            return float(self.claims["exp"])
        except OverflowError:  # an integer of hundreds of digits
            return math.inf


class TokenVerifier:
    """Verifies compact JWS tokens of one issuer against its JWKS.

    `verify` serves repeated tokens from a bounded LRU cache keyed by a hash of the
    token; an entry lives until the token's `exp` and dies when the key set changes.
    `cache_size=0` disables the cache. The constructor raises `ValueError` for an
    algorithm list naming `none`, an HMAC or an unknown algorithm, or a negative leeway.
    """

    def __init__(
        self,
        keys: JWKSCache,
        *,
        issuer: str,
        algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA"),
        leeway_s: int = 30,
        clock: Clock = system_clock,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        cache_size: int = 10_000,
    ) -> None:
        refused = set(algorithms) & _NEVER
        unknown = set(algorithms) - set(_ALG_KEY) - _NEVER
        if refused or unknown or not algorithms:
            raise ValueError(f"algorithms not allowed: {sorted(refused | unknown)}")
        if leeway_s < 0 or not 0 < max_token_bytes <= MAX_TOKEN_BYTES:
            raise ValueError("leeway_s must not be negative and max_token_bytes 1..16384")
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self._keys = keys
        self.issuer = issuer
        self._algorithms = frozenset(algorithms)
        # One registry for every call; the allowlist is also joserfc's own (RFC 8725 §3.1).
        # RFC 7515 §4: header parameters that are neither understood nor critical MUST be
        # ignored, so unknown ones are let through; every parameter that could change
        # how we verify (alg, kid, crit, b64, jku, x5u, jwk, x5c) is checked explicitly.
        self._registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
        self._leeway_s = leeway_s
        self._clock = clock
        self._max_bytes = max_token_bytes
        self._cache_size = cache_size
        self._cache: ExpiringLRU[_CacheKey, VerifiedToken] = ExpiringLRU(cache_size, clock)
        self._cache_version = keys.version

    async def verify(self, token: object, profile: TokenProfile) -> VerifiedToken:
        """Verify `token` for `profile`.

        Raises `InvalidToken` for any unacceptable token and `ProviderError` when the
        issuer's keys cannot be loaded at all. Nothing else escapes, whatever `token` is.
        """
        try:
            return await self._verify(token, profile)
        except SharedError:
            raise
        except Exception as exc:  # any parser surprise is a bad token, never a 500
            logger.info("token rejected by an unexpected %s", type(exc).__name__)
            raise InvalidToken("malformed token") from None

    async def _verify(self, token: object, profile: TokenProfile) -> VerifiedToken:
        if not isinstance(token, str):
            raise InvalidToken("token is not a string")
        # issue 2 / RFC 8725 §3.x hygiene: refuse oversized input before any parsing
        if len(token) > self._max_bytes:
            raise InvalidToken("token too large")
        if _COMPACT_JWS.fullmatch(token) is None:
            if _COMPACT_JWE.fullmatch(token) is not None:
                raise InvalidToken("encrypted tokens (JWE) are not accepted")
            raise InvalidToken("malformed token")

        cache_key = None
        if profile.cacheable and self._cache_size:
            cache_key = (hashlib.sha256(token.encode()).digest(), profile, profile.check)
            hit = await self._cache_get(cache_key)
            if hit is not None:
                return hit

        try:
            signed = jws.extract_compact(token.encode(), registry=self._registry)
        except JoseError as exc:
            raise InvalidToken(_describe(exc)) from None
        header = self._check_header(signed.headers(), profile)
        key = await self._keys.get_key(header.get("kid"), header["alg"])
        try:
            valid = jws.validate_compact(signed, key, registry=self._registry)
        except JoseError as exc:
            raise InvalidToken(_describe(exc)) from None
        if not valid:
            raise InvalidToken("token signature is invalid")
        try:
            claims = json.loads(signed.payload)
        except (ValueError, RecursionError):
            raise InvalidToken("token payload is not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("token payload is not a JSON object")
        check_claims(
            claims, profile, issuer=self.issuer, now=self._clock(), leeway_s=self._leeway_s
        )
        verified = VerifiedToken(header=header, claims=claims)
        if cache_key is not None:
            self._cache_put(cache_key, verified)
        return verified

    def _check_header(self, header: object, profile: TokenProfile) -> dict[str, Any]:
        if not isinstance(header, dict):
            raise InvalidToken("malformed token header")
        alg = header.get("alg")
        # RFC 8725 §3.1: the algorithm comes from our allowlist, never from the token alone
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken("token algorithm is not allowed")
        # RFC 8725 §3.10 / RFC 7515 §4.1.2-4.1.6: a token never chooses its own key
        if not _KEY_CHOOSING_HEADERS.isdisjoint(header):
            raise InvalidToken("token header names its own key (jku/x5u/jwk/x5c)")
        # RFC 7515 §4.1.11: we understand no extension, so any crit is refused;
        # RFC 7797 b64=false (unencoded payload) is refused with it.
        if "crit" in header or "b64" in header:
            raise InvalidToken("token header uses unsupported extensions")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("token kid is not a string")
        # RFC 9068 §4 / RFC 8725 §3.11: explicit typing keeps token kinds apart
        typ = header.get("typ", "JWT")
        if not isinstance(typ, str) or normalise_typ(typ) not in profile.token_types:
            raise InvalidToken("token type (typ) is not accepted here")
        return header

    async def _cache_get(self, key: _CacheKey) -> VerifiedToken | None:
        if not len(self._cache):
            return None
        # a stale key set is refetched first, so a rotation drops the entries below
        await self._keys.refresh_if_stale()
        if self._cache_version != self._keys.version:
            self._cache.clear()
            return None
        return self._cache.get(key)

    def _cache_put(self, key: _CacheKey, verified: VerifiedToken) -> None:
        if self._cache_version != self._keys.version:
            self._cache.clear()
            self._cache_version = self._keys.version
        # an entry lives until the token's exp
        self._cache.put(key, verified, verified.expires_at)

    def clear_cache(self) -> None:
        """Forget every verified token (e.g. after a revocation)."""
        self._cache.clear()


def _describe(exc: JoseError) -> str:
    """A short description of a joserfc error that carries nothing from the token.

    Header errors may quote attacker-chosen header names, so only the error's fixed
    code is used; claim errors name claims we asked for, which are safe to repeat.
    """
    if isinstance(exc, ExpiredTokenError):
        return "token expired"
    if isinstance(exc, BadSignatureError):
        return "token signature is invalid"
    if isinstance(exc, MissingClaimError):
        return f"token lacks a required claim ({exc.claim})"
    if isinstance(exc, ClaimError):
        return f"token claim {exc.claim} rejected: {exc.description}"[:200]
    return f"token rejected ({exc.error})"
