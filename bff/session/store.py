"""The `SessionStore` seam: where a sealed session lives between requests.

Like oauth2-proxy's `SessionStore` (Save/Load/Clear/VerifyConnection), one protocol with
a cookie and a Redis implementation, chosen by `bff.session.factory`. Stores move sealed
bytes and cookies only; expiry, idle time and revocation are `SessionManager`'s job.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bff.session.model import Session


@dataclass(frozen=True)
class Loaded:
    session: Session
    #: opened with an older key of the ring: write it back sealed with the first key
    stale_key: bool


class SessionStore(Protocol):
    async def load(self, cookies: Mapping[str, str]) -> Loaded | None:
        """The session these request cookies carry, or None (absent, forged, unreadable)."""

    async def save(self, session: Session, cookies: Mapping[str, str], max_age_s: int) -> list[str]:
        """Store `session`; returns the `Set-Cookie` lines to send. Raises `SessionTooLarge`."""

    async def clear(self, cookies: Mapping[str, str]) -> list[str]:
        """Forget the session these cookies carry; returns `Set-Cookie` lines removing them."""

    async def verify_connection(self) -> None:
        """Raise when the store cannot be used (readiness)."""
