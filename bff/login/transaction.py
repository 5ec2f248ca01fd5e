"""Login transactions: one short-lived sealed cookie per pending `state`.

Several tabs may log in at once, each with its own cookie; at most `MAX_PENDING` are kept
(oldest evicted) so cookies never pile up. `SameSite=Lax` lets the cookie ride along on
the provider's top-level redirect back to `/auth/callback` (RFC 6265bis §5.4.7.1).
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from bff.cookies import CookiePolicy
from bff.keyring import KeyRing
from shared.clock import Clock

PURPOSE = "bff-login"
TTL_S = 600  # 10 minutes
MAX_PENDING = 3


@dataclass(frozen=True)
class Transaction:
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    prompt: str | None
    created_at: float


def cookie_suffix(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:16]


class Transactions:
    def __init__(self, ring: KeyRing, policy: CookiePolicy, clock: Clock) -> None:
        self._ring = ring
        self._policy = policy
        self._clock = clock

    def _pending(self, cookies: Mapping[str, str]) -> list[tuple[str, Transaction | None]]:
        out: list[tuple[str, Transaction | None]] = []
        for name, value in cookies.items():
            if name.startswith(self._policy.login_prefix):
                out.append((name, self._open(value)))
        return out

    def _open(self, value: str) -> Transaction | None:
        opened = self._ring.open(value, PURPOSE)
        if opened is None:
            return None
        try:
            tx = Transaction(**opened.payload)
        except TypeError:
            return None
        if not isinstance(tx.created_at, int | float):
            return None
        age = self._clock() - tx.created_at
        return tx if -60 <= age < TTL_S else None

    def begin(
        self, cookies: Mapping[str, str], return_to: str, prompt: str | None
    ) -> tuple[Transaction, list[str]]:
        """A fresh transaction and the `Set-Cookie` lines that store it and evict old ones."""
        tx = Transaction(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # RFC 7636 §4.1: 43-128 characters; 64 random bytes give 86
            code_verifier=secrets.token_urlsafe(64),
            return_to=return_to,
            prompt=prompt,
            created_at=self._clock(),
        )
        lines: list[str] = []
        live: list[tuple[float, str]] = []
        for name, pending in self._pending(cookies):
            if pending is None:
                lines.append(self._delete(name))  # expired or unreadable
            else:
                live.append((pending.created_at, name))
        live.sort()
        while len(live) >= MAX_PENDING:
            lines.append(self._delete(live.pop(0)[1]))
        sealed = self._ring.seal(tx.__dict__, PURPOSE)
        name = self._policy.login_prefix + cookie_suffix(tx.state)
        lines.append(self._policy.set(name, sealed, max_age=TTL_S, samesite="Lax"))
        return tx, lines

    def find(self, cookies: Mapping[str, str], state: str) -> tuple[Transaction | None, list[str]]:
        """The pending transaction for `state` (constant-time compare) and lines removing it."""
        name = self._policy.login_prefix + cookie_suffix(state)
        value = cookies.get(name)
        if value is None:
            return None, []
        tx = self._open(value)
        removal = [self._delete(name)]
        if tx is None or not hmac.compare_digest(tx.state.encode(), state.encode()):
            return None, removal
        return tx, removal

    def _delete(self, name: str) -> str:
        return self._policy.delete(name, samesite="Lax")
