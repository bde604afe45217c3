"""compose.yaml cannot run here (no Docker engine); this checks its structure instead."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_core_infrastructure_is_there_with_official_images() -> None:
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in _compose()["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs such as topic creation
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_dependencies_exist_and_wait_for_health() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", dependency
            assert condition["condition"] in {
                "service_healthy",
                "service_completed_successfully",
            }, name
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_volumes_and_mounted_files_exist() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").exists(), name


def test_secret_files_exist_or_are_made_by_the_dev_secrets_script() -> None:
    compose = _compose()
    dev_secrets = (REPO / "scripts" / "dev_secrets.py").read_text()
    for name, secret in (compose.get("secrets") or {}).items():
        path = secret["file"]
        generated = path.startswith("./.local/") and path.split("/")[-1] in dev_secrets
        assert (REPO / path).exists() or generated, f"secret {name}: nothing provides {path}"
    for name, service in compose["services"].items():
        for secret in service.get("secrets", []):
            assert secret in (compose.get("secrets") or {}), f"{name} uses undeclared {secret}"


def test_every_service_of_make_run_is_in_compose() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        run_all = importlib.import_module("run_all")
    finally:
        sys.path.remove(str(REPO / "scripts"))
    services = _compose()["services"]
    assert run_all.SERVICES, "make run starts no service"
    for name, module, _port in run_all.SERVICES:
        assert name in services, f"{name} is in make run but not in compose.yaml"
        assert module in " ".join(services[name].get("command", [])), name


def test_published_ports_match_the_local_infrastructure_defaults() -> None:
    services = _compose()["services"]
    assert "127.0.0.1:19092:19092" in services["kafka"]["ports"]
    assert "127.0.0.1:55432:5432" in services["postgres"]["ports"]
