"""The authenticated caller, as read from a verified access token's claims."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUPS_CLAIMS = ("groups", "roles", "realm_access.roles")


def claim_at_path(claims: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path (`realm_access.roles`, `resource_access.app.roles`)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    # RFC 9068 §2.2.3: `scope` is a space-separated string; some providers send `scp` lists
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    return _strings(claims.get("scp")) | _strings(scope)


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
