"""compose.yaml checked the way `docker compose up` would use it, without a Docker engine: every
service's settings given, every file it reads mounted, Kafka sized to fit its container."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from deploy_facts import ServiceFacts, compose, jvm_max_heap, services, size_in_bytes

APP_SERVICES = services()


def _mounted_targets(service: dict[str, Any], spec: dict[str, Any]) -> list[PurePosixPath]:
    targets = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            targets.append(PurePosixPath(parts[1] if len(parts) > 1 else parts[0]))
        else:
            targets.append(PurePosixPath(volume["target"]))
    for secret in service.get("secrets", []):
        if isinstance(secret, str):
            targets.append(PurePosixPath("/run/secrets") / secret)
        else:
            target = secret.get("target", secret["source"])
            targets.append(PurePosixPath("/run/secrets") / target)
    for config in service.get("configs", []):
        if isinstance(config, str):
            targets.append(PurePosixPath("/") / config)
        else:
            targets.append(PurePosixPath(config.get("target", "/" + config["source"])))
    return targets


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_every_file_a_service_reads_is_mounted_into_its_container(facts: ServiceFacts) -> None:
    """Intake once exited at start in compose: its partner key file defaulted to a relative
    `.local/...` path that the image leaves out and compose never mounted."""
    spec = compose()
    service = spec["services"][facts.name]
    env = _environment(service)
    mounted = _mounted_targets(service, spec)
    for setting in facts.settings_by_env.values():
        if not setting.is_path:
            continue
        if setting.env in env:
            path = PurePosixPath(env[setting.env])
            assert path.is_absolute(), f"{facts.name}: {setting.env}={path} is relative"
            assert any(path == t or t in path.parents for t in mounted), (
                f"{facts.name}: {setting.env}={path} is not mounted (mounts: {mounted})"
            )
        elif setting.default is not None:
            # the default must be a file shipped inside the installed package
            assert PurePosixPath(str(setting.default)).is_absolute(), (
                f"{facts.name} reads {setting.name} from the relative default "
                f"{setting.default}: the container has no such file; set {setting.env} in compose"
            )


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_every_required_setting_is_given_and_no_unknown_one(facts: ServiceFacts) -> None:
    service = compose()["services"][facts.name]
    env = _environment(service)
    known = facts.settings_by_env
    for setting in known.values():
        if setting.required:
            assert setting.env in env or f"{setting.env}_FILE" in env, (
                f"{facts.name} needs {setting.env} and compose does not set it"
            )
    for name in env:
        if name.startswith(facts.prefix.upper()):
            base = name.removesuffix("_FILE") if name not in known else name
            assert base in known, f"{facts.name}: compose sets {name}, which nothing reads"


def test_kafka_heap_leaves_room_inside_its_memory_limit() -> None:
    """A 512 MiB heap in a 512 MiB container is killed by the kernel once the broker also needs
    its metaspace, threads and direct buffers: the heap may take at most half the limit."""
    kafka = compose()["services"]["kafka"]
    limit = size_in_bytes(kafka["deploy"]["resources"]["limits"]["memory"])
    heap = jvm_max_heap(_environment(kafka)["KAFKA_HEAP_OPTS"])
    assert heap <= limit // 2, f"Kafka heap {heap >> 20} MiB in a {limit >> 20} MiB limit"


def test_one_shot_jobs_run_the_built_image_without_installing_anything() -> None:
    for name, service in compose()["services"].items():
        command = service.get("command") or []
        if isinstance(command, str):
            command = command.split()
        assert command[:2] != ["uv", "run"], f"{name} installs packages at start (`uv run`)"
