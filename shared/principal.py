"""The authenticated caller, as read from a verified access token's claims."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUPS_CLAIMS = ("groups", "roles", "realm_access.roles")


def claim_at_path(claims: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path (`realm_access.roles`, `resource_access.app.roles`).

    A key that itself contains dots (a client id such as `my.app`) is matched too:
    at each level the longest run of path parts naming a key wins.
    """
    return _walk(claims, path.split("."))


def _walk(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    if not isinstance(value, Mapping):
        return None
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in value:
            found = _walk(value[name], parts[end:])
            if found is not None:
                return found
    return None


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _scope_values(value: Any) -> frozenset[str]:
    # RFC 8693 §4.2 / RFC 9068 §2.2.3: a space-separated string; some providers send a
    # list (Okta's `scp`), others a space-separated `scp` string (Microsoft Entra ID)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(part for v in value if isinstance(v, str) for part in v.split())
    return frozenset()


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    if "scope" in claims:
        return _scope_values(claims["scope"])
    return _scope_values(claims.get("scp"))


@dataclass(frozen=True)
class Principal:
    issuer: str
    subject: str | None
    client_id: str | None
    scopes: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], groups_claims: Iterable[str] = DEFAULT_GROUPS_CLAIMS
    ) -> "Principal":
        """The caller that verified `claims` describe; claims of the wrong type are read
        as absent, so this raises nothing."""
        sub = claims.get("sub")
        client_id = claims.get("client_id", claims.get("azp"))
        groups: frozenset[str] = frozenset()
        for path in groups_claims:
            groups |= _strings(claim_at_path(claims, path))
        return cls(
            issuer=str(claims.get("iss", "")),
            subject=sub if isinstance(sub, str) else None,
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=_scopes(claims),
            groups=groups,
            claims=claims,
        )

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def in_any_group(self, groups: Iterable[str]) -> bool:
        return not self.groups.isdisjoint(groups)
