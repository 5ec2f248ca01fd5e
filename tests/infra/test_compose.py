"""docker-compose.yml and infra/Dockerfile, checked as well as possible without a Docker engine."""

import re
from pathlib import Path
from typing import Any

import pytest

from infra.keycloak.dist import KEYCLOAK_VERSION

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _ports(service: dict[str, Any]) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "redis", "keycloak", "resource-api", "bff"}


def test_every_service_has_an_image_or_build_and_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), name
        check = service.get("healthcheck")
        if check is None:  # the app image's Dockerfile HEALTHCHECK covers these
            assert service.get("build"), f"{name}: no healthcheck"
        else:
            assert check["test"], name


def test_apps_are_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    for name in ("resource-api", "bff"):
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_published_ports_listen_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in _ports(service):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for name in ("postgres", "redis"):
        assert not _ports(compose["services"][name]), f"{name} needs no published port"


def test_startup_order_waits_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["resource-api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["bff"]["depends_on"]["resource-api"]["condition"] == "service_healthy"
    assert services["bff"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_keycloak_imports_the_realm(compose: dict[str, Any]) -> None:
    keycloak = compose["services"]["keycloak"]
    assert "--import-realm" in keycloak["command"]
    mounts = [v.split(":") for v in keycloak["volumes"]]
    assert any(
        (ROOT / src).resolve() == ROOT / "infra/keycloak/realm-inventory.json"
        and dst.startswith("/opt/keycloak/data/import/")
        for src, dst, *_ in mounts
    )
    # Every placeholder the realm file uses is set for the container.
    realm = (ROOT / "infra/keycloak/realm-inventory.json").read_text()
    for var in set(re.findall(r"\$\{(KC_[A-Z_]+)\}", realm)):
        assert var in keycloak["environment"], var


def test_keycloak_is_the_version_the_end_to_end_tests_run(compose: dict[str, Any]) -> None:
    image = compose["services"]["keycloak"]["image"]
    assert image == f"quay.io/keycloak/keycloak:{KEYCLOAK_VERSION}"
    assert "offline_access" not in compose["services"]["bff"]["environment"]["BFF_SCOPES"]


def test_apps_agree_on_issuer_audience_and_clients(compose: dict[str, Any]) -> None:
    api = compose["services"]["resource-api"]["environment"]
    bff = compose["services"]["bff"]["environment"]
    kc = compose["services"]["keycloak"]["environment"]
    assert api["API_OIDC_ISSUER"] == bff["BFF_OIDC_ISSUER"]
    assert api["API_OIDC_ISSUER"].startswith(kc["KC_HOSTNAME"])
    assert api["API_AUDIENCE"] == kc["KC_API_AUDIENCE"]
    assert bff["BFF_UPSTREAM_URL"] == f"http://resource-api:{api['API_PORT']}"
    assert bff["BFF_PUBLIC_URL"] == kc["KC_BFF_PUBLIC_URL"]
    assert bff["BFF_SESSION_STORE"] == "redis"
    assert bff["BFF_REDIS_URL"].startswith("redis://redis")


def test_no_secret_is_written_into_the_compose_file(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        env = service.get("environment", {})
        for key, value in env.items():
            if re.search(r"SECRET|PASSWORD|SESSION_KEYS", key):
                assert str(value).startswith("${"), f"{key} is set literally"


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "infra/Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M | re.I)
    assert len(stages) >= 2
    assert re.search(r"^COPY --from=build", text, flags=re.M)
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user
    assert not user[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK\b", text, flags=re.M)
    assert "uv sync --frozen --no-dev" in text
