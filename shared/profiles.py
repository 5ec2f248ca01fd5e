"""Token profiles: what an access token (RFC 9068), an ID token (OIDC Core §3.1.3.7) or
a logout token (OIDC Back-Channel Logout 1.0 §2.6) must look like beyond its signature,
issuer and lifetime, which `TokenVerifier` checks for every token alike.
"""

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidToken

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

ClaimsCheck = Callable[[Mapping[str, Any]], None]


def normalise_typ(value: str) -> str:
    """RFC 7515 §4.1.9: media types compare case-insensitively, `application/` optional."""
    value = value.strip().lower()
    return value.removeprefix("application/")


@dataclass(frozen=True)
class TokenProfile:
    """What a token of one use must look like, besides signature, `iss` and time.

    Raises `ValueError` when built without an audience or without a token type.
    """

    name: str
    audiences: tuple[str, ...]
    #: allowed header `typ` values after `normalise_typ`; a missing `typ` counts as "jwt"
    token_types: tuple[str, ...]
    required_claims: tuple[str, ...] = ("exp",)
    check: ClaimsCheck | None = field(default=None, compare=False)
    #: one-time tokens (ID, logout) are never served from the verified-token cache
    cacheable: bool = True

    def __post_init__(self) -> None:
        # tuples keep the profile hashable (it is part of the cache key) whatever was passed
        for name in ("audiences", "token_types", "required_claims"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "token_types", tuple(normalise_typ(t) for t in self.token_types))
        # an empty audience list would make joserfc skip the aud comparison altogether
        if not self.audiences or not all(isinstance(a, str) and a for a in self.audiences):
            raise ValueError(f"{self.name}: audiences must be non-empty strings")
        if not self.token_types:
            raise ValueError(f"{self.name}: at least one token type is needed")

    @classmethod
    def access_token(
        cls, audiences: tuple[str, ...], token_types: tuple[str, ...]
    ) -> "TokenProfile":
        return cls(
            name="access_token",
            audiences=audiences,
            token_types=tuple(normalise_typ(t) for t in token_types),
            required_claims=("exp", "iss"),
            check=_check_access_token,
        )

    @classmethod
    def id_token(cls, client_id: str, *, nonce: str | None = None) -> "TokenProfile":
        """An ID token for `client_id`; with `nonce`, the token must carry exactly it."""
        return cls(
            name="id_token",
            audiences=(client_id,),
            token_types=("jwt",),
            required_claims=("exp", "iat", "sub", "iss"),
            check=lambda claims: _check_id_token(claims, client_id, nonce),
            cacheable=False,
        )

    @classmethod
    def logout_token(cls, client_id: str) -> "TokenProfile":
        return cls(
            name="logout_token",
            audiences=(client_id,),
            # OIDC Back-Channel Logout 1.0 §2.4: explicit typing with logout+jwt
            token_types=("logout+jwt",),
            required_claims=("iat", "jti", "events", "iss", "exp"),
            check=_check_logout_token,
            cacheable=False,
        )


def _check_access_token(claims: Mapping[str, Any]) -> None:
    # An ID token is never an access token (RFC 9068 §4, RFC 8725 §3.11): these claims
    # exist only in ID tokens; Keycloak marks its token kinds with a `typ` claim.
    if any(name in claims for name in ("at_hash", "c_hash", "s_hash", "events")):
        raise InvalidToken("not an access token")
    if claims.get("typ") in ("ID", "Refresh", "Logout", "Offline"):
        raise InvalidToken("not an access token")
    # RFC 9068 §2.2: `sub` is REQUIRED; a client-credentials token carries the client's own
    # identifier there, and an empty one would name nobody (OIDC Core §2). Checked here,
    # once the registry validated the claims present, not among `required_claims`: a token
    # with a malformed `exp` is still refused for its `exp`.
    if not claims.get("sub"):
        raise InvalidToken("token lacks a required claim (sub)")


def _check_id_token(claims: Mapping[str, Any], client_id: str, nonce: str | None = None) -> None:
    # OIDC Core §3.1.3.7 (3)-(5): with several audiences azp is required, and azp, when
    # present, must be this client.
    aud = claims.get("aud")
    azp = claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is None:
        raise InvalidToken("ID token with several audiences lacks azp")
    if azp is not None and azp != client_id:
        raise InvalidToken("ID token azp is not this client")
    if nonce is not None:
        check_nonce(claims, nonce)


def check_nonce(claims: Mapping[str, Any], expected: str) -> None:
    """OIDC Core §3.1.3.7 (11): the ID token carries the nonce its login sent, exactly.

    Raises `InvalidToken`. Compared in constant time.
    """
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), expected.encode()):
        raise InvalidToken("ID token nonce does not match")


def _check_logout_token(claims: Mapping[str, Any]) -> None:
    # OIDC Back-Channel Logout 1.0 §2.6 (3)-(5)
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidToken("logout token lacks the back-channel logout event")
    if "nonce" in claims:
        raise InvalidToken("logout token must not contain a nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not isinstance(sid, str) and not isinstance(sub, str):
        raise InvalidToken("logout token has neither sid nor sub")
