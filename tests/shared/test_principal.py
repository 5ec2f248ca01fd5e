"""`shared.principal`: reading the caller out of verified claims."""

from typing import Any

import pytest

from shared import Principal
from shared.principal import claim_at_path

ISS = "https://idp.test"


def test_user_token() -> None:
    claims = {
        "iss": ISS,
        "sub": "alice",
        "azp": "spa",
        "scope": "openid  profile inventory:read",
        "groups": ["admin", 7, "staff"],
    }
    p = Principal.from_claims(claims)
    assert (p.issuer, p.subject, p.client_id) == (ISS, "alice", "spa")
    assert p.scopes == {"openid", "profile", "inventory:read"}
    assert p.groups == {"admin", "staff"}
    assert p.has_scope("inventory:read")
    assert not p.has_scope("inventory")
    assert p.in_any_group(["nobody", "staff"])
    assert not p.in_any_group(["nobody"])
    assert p.claims is claims


def test_client_id_claim_wins_over_azp() -> None:
    p = Principal.from_claims({"iss": ISS, "client_id": "svc", "azp": "spa"})
    assert p.client_id == "svc"
    assert p.subject is None


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "a b"}, {"a", "b"}),
        ({"scope": ""}, set()),
        ({"scp": ["a", "b", 3]}, {"a", "b"}),
        ({"scp": "a b"}, {"a", "b"}),  # Microsoft Entra ID sends a space-separated string
        ({"scope": ["a", "b c"]}, {"a", "b", "c"}),
        ({"scope": "a", "scp": ["b"]}, {"a"}),  # the standard claim wins
        ({"scope": 5}, set()),
        ({}, set()),
    ],
)
def test_scopes(claims: dict[str, Any], scopes: set[str]) -> None:
    assert Principal.from_claims({"iss": ISS, **claims}).scopes == scopes


def test_groups_from_configured_dotted_paths() -> None:
    claims = {
        "iss": ISS,
        "roles": "single",
        "realm_access": {"roles": ["realm-admin"]},
        "resource_access": {"my.app": {"roles": ["app-editor"]}, "other": {"roles": ["x"]}},
        "groups": None,
    }
    p = Principal.from_claims(
        claims, ["groups", "roles", "realm_access.roles", "resource_access.my.app.roles"]
    )
    assert p.groups == {"single", "realm-admin", "app-editor"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b", 1),
        ("a", {"b": 1}),
        ("a.c", None),
        ("a.b.c", None),
        ("x.y.z", 2),  # the key "x.y" holds a dot
        ("missing", None),
        ("", None),
    ],
)
def test_claim_at_path(path: str, expected: Any) -> None:
    assert claim_at_path({"a": {"b": 1}, "x.y": {"z": 2}}, path) == expected


def test_non_string_subject_and_issuer_are_not_trusted_as_such() -> None:
    p = Principal.from_claims({"iss": ISS, "sub": 123, "client_id": ["x"]})
    assert p.subject is None
    assert p.client_id is None
