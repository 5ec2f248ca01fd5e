"""What a BFF session holds: only what the proxy, `/auth/me` and logout need."""

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: Claims `/auth/me` returns; nothing else from the ID token is kept.
PROFILE_CLAIMS = ("sub", "name", "email", "groups")


@dataclass(frozen=True)
class Session:
    #: our own random id: single-flight key and local logout revocation
    id: str
    sub: str
    #: the provider's session id (OIDC Back-Channel Logout `sid`), if it sent one
    sid: str | None
    claims: dict[str, Any]
    access_token: str
    access_expires_at: float
    refresh_token: str | None
    #: kept only as `id_token_hint` for RP-initiated logout
    id_token: str | None
    created_at: float
    seen_at: float
    version: int = field(default=1)

    @classmethod
    def new(cls, **kwargs: Any) -> "Session":
        return cls(id=secrets.token_urlsafe(16), **kwargs)

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "Session | None":
        """A session from an opened payload, or None when its shape is wrong."""
        try:
            session = cls(**payload)
        except TypeError:
            return None
        ok = (
            isinstance(session.id, str)
            and isinstance(session.sub, str)
            and isinstance(session.access_token, str)
            and isinstance(session.claims, dict)
            and isinstance(session.created_at, int | float)
            and isinstance(session.seen_at, int | float)
            and isinstance(session.access_expires_at, int | float)
            and session.version == 1
        )
        return session if ok else None

    def touched(self, now: float) -> "Session":
        return replace(self, seen_at=now)

    def expires_at(self, max_age_s: int, idle_s: int) -> float:
        return min(self.created_at + max_age_s, self.seen_at + idle_s)


def profile_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: claims[name] for name in PROFILE_CLAIMS if name in claims}
