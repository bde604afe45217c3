"""compose.yaml checked the way `docker compose up` would use it, without a Docker engine: every
service's settings given, every file it reads mounted, Kafka sized to fit its container."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml
from deploy_facts import REPO, ServiceFacts, compose, jvm_max_heap, services, size_in_bytes
from jsonschema import Draft7Validator

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


# images without a shell or HTTP client: health is seen from their dependants instead
NO_SHELL_IMAGES = ("otel/opentelemetry-collector-contrib:", "jaegertracing/jaeger:")


def test_compose_follows_the_compose_specification() -> None:
    schema = json.loads((REPO / "deploy/schemas/compose/compose-spec.json").read_text())
    errors = sorted(
        Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]
    )


def test_core_infrastructure_is_there_with_official_images() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["postgres"]["image"].startswith("postgres:")
    for name, image in {
        "prometheus": "prom/prometheus:",
        "alertmanager": "prom/alertmanager:",
        "grafana": "grafana/grafana:",
        "otel-collector": "otel/opentelemetry-collector-contrib:",
        "jaeger": "jaegertracing/jaeger:",
    }.items():
        assert services[name]["image"].startswith(image), name


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in compose()["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs such as topic creation
        if service.get("image", "").startswith(NO_SHELL_IMAGES):
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_dependencies_exist_and_wait_for_health_or_completion() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            kind = condition["condition"]
            if kind == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", dependency
            elif kind == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), dependency
            else:
                assert kind == "service_started", name
                assert services[dependency]["image"].startswith(NO_SHELL_IMAGES), dependency


def test_volumes_and_mounted_files_exist() -> None:
    spec = compose()
    declared = set(spec.get("volumes") or {})
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").exists(), name


def test_secret_files_exist_or_are_made_by_the_dev_secrets_script() -> None:
    spec = compose()
    dev_secrets = (REPO / "scripts" / "dev_secrets.py").read_text()
    for name, secret in (spec.get("secrets") or {}).items():
        path = secret["file"]
        folder, file_name = path.rsplit("/", 1)
        made = path.startswith("./.local/") and (
            file_name in dev_secrets or file_name.replace(".json", "") in dev_secrets
        )
        assert (REPO / path).exists() or made, f"secret {name}: nothing provides {path}"
        assert folder.split("/")[-1] in dev_secrets, f"secret {name}: {folder} is not made"
    for name, service in spec["services"].items():
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]  # long syntax
            assert source in (spec.get("secrets") or {}), f"{name} uses undeclared {source}"


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_every_service_runs_from_the_image_as_its_own_role_with_migrations_off(
    facts: ServiceFacts,
) -> None:
    services = compose()["services"]
    assert facts.name in services, f"services/{facts.name} is not in compose.yaml"
    service = services[facts.name]
    env = _environment(service)
    assert service["image"] == services["migrate"]["image"], facts.name
    assert facts.main_module in " ".join(service["command"]), facts.name
    assert env[f"{facts.prefix}MIGRATE_ON_START".upper()] == "false", facts.name
    assert services[facts.name]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    role = facts.name.replace("-", "_")
    assert env["SIGNAALPUNT_DATABASE_URL"].startswith(f"postgresql://{role}:"), facts.name
    assert service["read_only"] is True
    assert service["user"].split(":")[0] != "0"
    roles = (REPO / "deploy/postgres/initdb/10-service-roles.sql").read_text()
    assert f"CREATE ROLE {role} LOGIN" in roles, f"no PostgreSQL role for {facts.name}"


def test_the_key_store_has_a_role_of_its_own() -> None:
    roles = (REPO / "deploy/postgres/initdb/10-service-roles.sql").read_text()
    assert "CREATE ROLE subject_keys LOGIN" in roles
    assert compose()["services"]["migrate"]["command"] == ["signaalpunt-migrate", "all", "--grant"]


def test_published_ports_match_the_local_infrastructure_defaults() -> None:
    services = compose()["services"]
    assert "127.0.0.1:19092:19092" in services["kafka"]["ports"]
    assert "127.0.0.1:15432:5432" in services["postgres"]["ports"]


def test_traces_go_to_the_collector_and_on_to_a_trace_backend() -> None:
    services = compose()["services"]
    for facts in APP_SERVICES:
        env = _environment(services[facts.name])
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", facts.name
    collector = yaml.safe_load((REPO / "deploy/otel/collector.yaml").read_text())
    exporters = collector["service"]["pipelines"]["traces"]["exporters"]
    assert any(
        collector["exporters"][e].get("endpoint", "").startswith("jaeger:") for e in exporters
    )
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


@pytest.mark.parametrize(
    ("service", "tool"),
    [
        ("prometheus", "prometheus"),
        ("alertmanager", "prometheus-alertmanager"),
        ("postgres-exporter", "prometheus-postgres-exporter"),
    ],
)
def test_compose_runs_the_prometheus_and_alertmanager_the_tests_run(
    service: str, tool: str
) -> None:
    """One version for the alert tests and the stack: an alert rule that passes its tests on one
    version and fails on another (as under Prometheus 3 with tests on 2) cannot slip through."""
    import re
    import shutil
    import subprocess

    from signaalpunt_testkit.plugin import in_ci

    path = shutil.which(tool)
    if path is None:
        message = f"{tool} missing: apt-get install {tool}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"version (\d+\.\d+\.\d+)", out.stdout + out.stderr)
    assert found, out
    image = compose()["services"][service]["image"]
    assert image.endswith(f":v{found.group(1)}"), (image, found.group(1))


def test_kafka_and_postgresql_exporters_are_scraped() -> None:
    """The pipeline-health dashboard's Kafka and PostgreSQL panels: compose runs an exporter for
    each, next to the broker and the database it watches, and Prometheus scrapes both."""
    services = compose()["services"]
    kafka_exporter, postgres_exporter = services["kafka-exporter"], services["postgres-exporter"]
    assert "--kafka.server=kafka:9092" in kafka_exporter["command"]
    assert kafka_exporter["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert postgres_exporter["environment"]["DATA_SOURCE_URI"].startswith("postgres:5432/")
    assert postgres_exporter["depends_on"]["postgres"]["condition"] == "service_healthy"
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert jobs["kafka"] == ["kafka-exporter:9308"]
    assert jobs["postgres"] == ["postgres-exporter:9187"]


def test_the_console_and_its_identity_provider_run_in_compose() -> None:
    """The console has no ServiceSettings (no Kafka, no database), so it has checks of its own:
    every variable it is given is a setting it reads, the files it reads are mounted, each
    service it calls is named by its compose name and API port, and the development identity
    provider it signs in with has the keys it signs with."""
    from signaalpunt_console.config import ConsoleSettings

    services = compose()["services"]
    console, idp = services["console"], services["dev-idp"]
    env = _environment(console)
    known = {
        f"SIGNAALPUNT_CONSOLE_{name}".upper(): info
        for name, info in ConsoleSettings.model_fields.items()
    }
    for name in env:
        if name.startswith("SIGNAALPUNT_CONSOLE_"):
            assert name in known or name.removesuffix("_FILE") in known, (
                f"compose sets {name}, which nothing reads"
            )
    mounted = _mounted_targets(console, compose())
    assert PurePosixPath(env["SIGNAALPUNT_CONSOLE_JWKS_FILE"]) in mounted
    assert console["image"] == services["migrate"]["image"]
    assert console["read_only"] is True
    for field in ConsoleSettings.model_fields:
        called = field.removesuffix("_url")
        if not field.endswith("_url") or not (REPO / "services" / called).is_dir():
            continue  # public_url, the identity provider's and Grafana's: for browsers
        host, port = env[f"SIGNAALPUNT_CONSOLE_{field}".upper()].removeprefix("http://").split(":")
        assert host == called, field
        prefix = f"SIGNAALPUNT_{called.upper()}_"
        assert _environment(services[called])[f"{prefix}HTTP_PORT"] == port, field
        assert console["depends_on"][called]["condition"] == "service_healthy", called
    assert console["depends_on"]["dev-idp"]["condition"] == "service_healthy"
    idp_env = _environment(idp)
    keys = PurePosixPath(idp_env["SIGNAALPUNT_DEV_IDP_KEYS"])
    idp_mounted = _mounted_targets(idp, compose())
    for name in ("signing-key.pem", "kid", "jwks.json"):
        assert keys / name in idp_mounted, name
    # browsers on the host reach the provider by its published port, the console by its name
    assert idp_env["SIGNAALPUNT_DEV_IDP_PUBLIC_URL"] == "http://127.0.0.1:8110"
    assert "127.0.0.1:8110:8110" in idp["ports"]
    assert env["SIGNAALPUNT_CONSOLE_OIDC_DISCOVERY_URL"].startswith("http://dev-idp:8110/")
