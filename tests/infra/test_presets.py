"""Provider presets (Keycloak realm, authentik blueprint, Authelia configuration): they parse
and contain the clients, mappers and token settings their READMEs promise. Structural only:
the Keycloak realm is also run for real by tests/e2e/test_keycloak.py; authentik and
Authelia do not run here."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

INFRA = Path(__file__).resolve().parents[2] / "infra"


# ---------------------------------------------------------------- Keycloak


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    return json.loads((INFRA / "keycloak/realm-inventory.json").read_text())


def _client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    (client,) = [c for c in realm["clients"] if c["clientId"] == client_id]
    return client


def _mappers(owner: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in owner.get("protocolMappers", []) if m["protocolMapper"] == kind]


def test_keycloak_bff_client(realm: dict[str, Any]) -> None:
    bff = _client(realm, "bff")
    assert bff["publicClient"] is False
    assert bff["clientAuthenticatorType"] == "client-secret"
    assert bff["standardFlowEnabled"]
    assert not bff["implicitFlowEnabled"]
    assert not bff["directAccessGrantsEnabled"]
    assert bff["attributes"]["pkce.code.challenge.method"] == "S256"
    assert all(uri.endswith("/auth/callback") for uri in bff["redirectUris"])
    assert bff["attributes"]["backchannel.logout.url"].endswith("/auth/backchannel-logout")
    assert bff["attributes"]["backchannel.logout.session.required"] == "true"
    assert bff["attributes"]["post.logout.redirect.uris"]


def test_keycloak_access_tokens_carry_the_api_audience(realm: dict[str, Any]) -> None:
    for client_id in ("bff", "inventory-service"):
        (audience,) = _mappers(_client(realm, client_id), "oidc-audience-mapper")
        config = audience["config"]
        assert config["included.custom.audience"] == "${KC_API_AUDIENCE}"
        assert config["access.token.claim"] == "true"


def test_keycloak_groups_claim_by_name_in_id_and_access_tokens(realm: dict[str, Any]) -> None:
    (groups,) = _mappers(_client(realm, "bff"), "oidc-group-membership-mapper")
    config = groups["config"]
    assert config["claim.name"] == "groups"
    assert config["full.path"] == "false"
    assert config["id.token.claim"] == config["access.token.claim"] == "true"
    assert {"name": "admin", "path": "/admin"} in realm["groups"]


def test_keycloak_service_client(realm: dict[str, Any]) -> None:
    service = _client(realm, "inventory-service")
    assert service["serviceAccountsEnabled"] is True
    assert not service["standardFlowEnabled"]
    assert "inventory:read" in service["defaultClientScopes"]


def test_keycloak_service_tokens_name_the_service_account(realm: dict[str, Any]) -> None:
    # The API knows a Keycloak client-credentials token by `preferred_username` =
    # `service-account-<client>` (resource_api/auth.py); `profile` has that mapper.
    service = _client(realm, "inventory-service")
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    names = [
        m["config"].get("claim.name")
        for scope in service["defaultClientScopes"]
        for m in _mappers(scopes[scope], "oidc-usermodel-property-mapper")
        if m["config"].get("access.token.claim") == "true"
    ]
    assert "preferred_username" in names


def test_keycloak_users_may_have_offline_tokens(realm: dict[str, Any]) -> None:
    # Imported users get no roles unless listed; without `offline_access` (a default role)
    # the BFF's default scopes fail at the token endpoint with "not_allowed".
    for user in realm["users"]:
        assert user["realmRoles"] == ["default-roles-inventory"], user["username"]


def test_keycloak_client_scopes_are_all_defined(realm: dict[str, Any]) -> None:
    # Listing clientScopes replaces Keycloak's built-in ones: every scope used must be here,
    # and `basic` must carry the sub mapper or access tokens have no `sub`.
    defined = {s["name"]: s for s in realm["clientScopes"]}
    for client in realm["clients"]:
        for scope in client["defaultClientScopes"] + client.get("optionalClientScopes", []):
            assert scope in defined, (client["clientId"], scope)
    assert _mappers(defined["basic"], "oidc-sub-mapper")


def test_keycloak_refresh_rotation_and_no_committed_secrets(realm: dict[str, Any]) -> None:
    assert realm["revokeRefreshToken"] is True
    assert realm["refreshTokenMaxReuse"] == 0
    for client in realm["clients"]:
        assert re.fullmatch(r"\$\{KC_[A-Z_]+\}", client["secret"])
    for user in realm["users"]:
        for credential in user["credentials"]:
            assert credential["value"] == "${KC_DEMO_PASSWORD}"
    assert {u["username"] for u in realm["users"]} == {"alice", "admin"}


# ---------------------------------------------------------------- authentik


class _BlueprintLoader(yaml.SafeLoader):
    """authentik's custom tags (!Find, !Env, ...) parsed as plain tagged values."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.SequenceNode):
        value: Any = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return {"!" + suffix: value}


_BlueprintLoader.add_multi_constructor("!", _tagged)


@pytest.fixture(scope="module")
def blueprint() -> dict[str, Any]:
    text = (INFRA / "authentik/blueprint-inventory.yaml").read_text()
    return yaml.load(text, Loader=_BlueprintLoader)


def _entries(blueprint: dict[str, Any], model: str) -> list[dict[str, Any]]:
    return [e for e in blueprint["entries"] if e["model"] == model]


def test_authentik_blueprint_providers(blueprint: dict[str, Any]) -> None:
    assert blueprint["version"] == 1
    providers = {
        e["attrs"]["client_id"]: e["attrs"]
        for e in _entries(blueprint, "authentik_providers_oauth2.oauth2provider")
    }
    assert set(providers) == {"bff", "inventory-service"}
    bff = providers["bff"]
    assert bff["client_type"] == "confidential"
    assert bff["include_claims_in_id_token"] is True
    assert bff["client_secret"] == {"!Env": ["AUTHENTIK_BFF_CLIENT_SECRET", ""]}
    assert bff["redirect_uris"][0]["matching_mode"] == "strict"
    assert "invalidation_flow" in bff
    for attrs in providers.values():
        assert "!Env" in attrs["client_secret"]


def test_authentik_blueprint_groups_mapping_and_admin_group(blueprint: dict[str, Any]) -> None:
    (mapping,) = _entries(blueprint, "authentik_providers_oauth2.scopemapping")
    assert mapping["attrs"]["scope_name"] == "groups"
    assert '"groups"' in mapping["attrs"]["expression"]
    assert [e["attrs"]["name"] for e in _entries(blueprint, "authentik_core.group")] == ["admin"]
    apps = _entries(blueprint, "authentik_core.application")
    assert {a["attrs"]["slug"] for a in apps} == {"inventory", "inventory-service"}


# ---------------------------------------------------------------- Authelia


@pytest.fixture(scope="module")
def authelia() -> dict[str, Any]:
    text = (INFRA / "authelia/configuration.yml").read_text()
    # Authelia's template filter runs before YAML parsing: stand in for it.
    text = re.sub(r"\{\{[^}]*\}\}", "'templated'", text)
    text = text.replace("''templated''", "'templated'")
    return yaml.safe_load(text)


def test_authelia_clients_issue_jwt_access_tokens_for_the_api(authelia: dict[str, Any]) -> None:
    oidc = authelia["identity_providers"]["oidc"]
    clients = {c["client_id"]: c for c in oidc["clients"]}
    assert set(clients) == {"bff", "inventory-service"}
    for client in clients.values():
        assert client["access_token_signed_response_alg"] == "RS256"  # else opaque tokens
        assert client["audience"] == ["inventory-api"]
        assert client["requested_audience_mode"] == "implicit"
        assert client["token_endpoint_auth_method"] == "client_secret_basic"
        assert client["public"] is False
    bff = clients["bff"]
    assert bff["require_pkce"] is True
    assert bff["pkce_challenge_method"] == "S256"
    assert set(bff["grant_types"]) == {"authorization_code", "refresh_token"}
    assert {"openid", "groups", "offline_access"} <= set(bff["scopes"])
    assert clients["inventory-service"]["grant_types"] == ["client_credentials"]
    assert clients["inventory-service"]["scopes"] == ["inventory:read"]


def test_authelia_claims_policy_puts_groups_in_tokens(authelia: dict[str, Any]) -> None:
    oidc = authelia["identity_providers"]["oidc"]
    bff = next(c for c in oidc["clients"] if c["client_id"] == "bff")
    policy = oidc["claims_policies"][bff["claims_policy"]]
    assert "groups" in policy["id_token"]
    assert "groups" in policy["access_token"]


def test_authelia_has_no_literal_secrets() -> None:
    text = (INFRA / "authelia/configuration.yml").read_text()
    for key in ("secret", "encryption_key", "hmac_secret", "client_secret"):
        for line in re.findall(rf"^\s*{key}:\s*(.+)$", text, flags=re.M):
            assert "{{" in line, f"{key} is set literally"
