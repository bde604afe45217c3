"""`make manifests`: generate the Kubernetes resources that follow from the code into
k8s/base/generated/, so they cannot drift from it (`make deploy-check` fails when they are stale):

- per service (every folder under services/): ServiceAccount, ConfigMap, Deployment, Service,
  PodDisruptionBudget, KEDA ScaledObject, ServiceMonitor and its NetworkPolicy; for the services
  whose outbox relay runs in a process of its own (`RELAY_PROCESSES`), a `<service>-relay`
  Deployment of the same image in role `relay` with its Service, PodDisruptionBudget,
  ServiceMonitor and NetworkPolicy (the service's own pods then run in role `api`);
- a Strimzi KafkaTopic per registry topic and dead-letter topic (replicas and min.insync.replicas
  from `TopicSettings`: production's 3 and 2 in the base; the development overlay patches 1 and 1);
- a Strimzi KafkaUser per service and per partner with exactly its ACLs (`kafka_acls`);
- a PrometheusRule from deploy/prometheus/rules, Grafana dashboard ConfigMaps from
  deploy/grafana/dashboards.

    uv run python scripts/k8s_manifests.py          # write
    uv run python scripts/k8s_manifests.py --check  # exit 1 when a file would change
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import SecretStr
from signaalpunt_console.config import ConsoleSettings
from signaalpunt_contracts import REGISTRY, TopicRegistry
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.kafka_acls import (
    Acl,
    partner_acls,
    service_acls,
    service_principals,
)
from signaalpunt_runtime.topics_settings import TopicSettings

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "k8s" / "base" / "generated"
KAFKA_CLUSTER = "signaalpunt"
POSTGRES_CLUSTER = "signaalpunt-pg"
PRODUCTION_TOPICS = TopicSettings(replication_factor=3, min_insync_replicas=2)
SECRETS_DIR = PurePosixPath("/etc/signaalpunt/secrets")
POSTGRES_CA = PurePosixPath("/etc/signaalpunt/postgres-ca/ca.crt")
KAFKA_CA = PurePosixPath("/etc/signaalpunt/kafka-ca/ca.crt")
PART_OF = {"app.kubernetes.io/part-of": "signaalpunt"}

# CPU from measured figures (bench/results/intake.md, docs/deploy.md "Sizing"): one intake
# process saturates one core at 840-960 signals/s with every request traced, so half a core
# carries ~400/s; one consumer stage handled 363 events/s one by one and 2,425/s batched
# (bench/results/pipeline_stage.md, on a 2-core machine shared with Kafka and PostgreSQL),
# far above a consortium's daily signal volume. Memory: starting points, not yet measured
# under load.
# No CPU limit (throttling a consumer only adds lag).
RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "intake": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
}
DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"memory": "384Mi"}}
# HTTP services reachable from the ingress controller (the others only serve their management port)
# under services/ without Kafka or a database: the staff console (a web front end over the
# services' APIs, `console_objects`)
FRONT_ENDS = frozenset({"console"})
CONSOLE_PORT = int(ConsoleSettings.model_fields["http_port"].default)
# the services whose APIs the console calls (ConsoleSettings' *_url) and its two secrets
CONSOLE_CALLS = frozenset(
    field.removesuffix("_url")
    for field in ConsoleSettings.model_fields
    if field.endswith("_url") and (REPO / "services" / field.removesuffix("_url")).is_dir()
)
CONSOLE_SECRETS = (
    ("session_secret", "session-secret"),
    ("oidc_client_secret", "oidc-client-secret"),
)
# the services whose outbox relay runs in pods of its own (role `relay`, ServiceSettings.role):
# intake's relay cost its API ~0.45 M CPU instructions per signal in the same process
# (docs/intake.md). Two relay pods: one holds the relay lock, the other takes over when it goes.
RELAY_PROCESSES = frozenset({"intake"})
EDGE_SERVICES = frozenset({"intake", "triage", "notifications", "referral", "matching"})
# settings that are secrets although typed as plain values (none yet) and secrets shared by
# several services (one Secret, one key rotation)
SHARED_SECRETS = {
    "key_encryption_keys": "signaalpunt-key-encryption-keys",
    "key_store_database_url": "signaalpunt-db-subject-keys",
}
OPTIONAL_SECRETS_WIRED = frozenset({"key_store_database_url", "sms_access_key", "smtp_password"})
# files the package ships for development that an installation gives its own of, as a Secret:
# production mode refuses the packaged ones (notifications' partners carry webhook secrets)
INSTALLATION_FILES = frozenset({"partners_file"})


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    settings: type[ServiceSettings]
    prefix: str

    @property
    def port(self) -> int:
        return int(self.settings.model_fields["http_port"].default)

    @property
    def management_port(self) -> int:
        """/livez, /readyz, /startupz, /metrics: for the kubelet and Prometheus only."""
        return self.port + 1000

    def env(self, field: str) -> str:
        return f"{self.prefix}{field}".upper()


def discover_services() -> list[Service]:
    found = []
    for project in sorted(REPO.glob("services/*/pyproject.toml")):
        name = project.parent.name
        package = "signaalpunt_" + name.replace("-", "_")
        config = importlib.import_module(f"{package}.config")
        found_settings = [
            c
            for _, c in inspect.getmembers(config, inspect.isclass)
            if issubclass(c, ServiceSettings)
            and c is not ServiceSettings
            and c.__module__ == config.__name__
        ]
        if not found_settings and name in FRONT_ENDS:
            continue
        [settings] = found_settings
        found.append(Service(name, package, settings, str(settings.model_config["env_prefix"])))
    return found


def _labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name, **PART_OF}


def _secret_files(service: Service) -> list[tuple[str, str, str]]:
    """(setting, Secret name, file path) for every secret the service reads from a file."""
    wired = []
    for field, info in service.settings.model_fields.items():
        if field == "database_url":
            continue  # the shared SIGNAALPUNT_DATABASE_URL_FILE below
        secret_typed = info.annotation in (SecretStr, SecretStr | None)
        relative_file = (
            field.endswith("_file")
            and field != "jwks_file"  # replaced by JWKS_URL in a cluster
            and info.default is not None
            and not PurePosixPath(str(info.default)).is_absolute()
        )
        if (
            not relative_file
            and field not in INSTALLATION_FILES
            and not (secret_typed and (info.is_required() or field in OPTIONAL_SECRETS_WIRED))
        ):
            continue
        kebab = field.removesuffix("_file").replace("_", "-")
        secret = SHARED_SECRETS.get(field, f"signaalpunt-{service.name}-{kebab}")
        wired.append((field, secret, str(SECRETS_DIR / kebab)))
    return wired


def _config(service: Service) -> dict[str, str]:
    fields = service.settings.model_fields
    config = {
        "SIGNAALPUNT_KAFKA_BOOTSTRAP": f"{KAFKA_CLUSTER}-kafka-bootstrap:9093",
        # the service's own principal (its KafkaUser below), over TLS (kafka_security.py)
        "SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SIGNAALPUNT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SIGNAALPUNT_KAFKA_USERNAME": service.name,
        "SIGNAALPUNT_KAFKA_PASSWORD_FILE": str(SECRETS_DIR / "kafka-password"),
        "SIGNAALPUNT_KAFKA_SSL_CAFILE": str(KAFKA_CA),
        "SIGNAALPUNT_DATABASE_URL_FILE": str(SECRETS_DIR / "database-url"),
        # refuse to start with any development secret (production.py); the development
        # overlay sets development
        "SIGNAALPUNT_ENVIRONMENT": "production",
        service.env("http_host"): "0.0.0.0",  # noqa: S104 - inside the pod
        service.env("http_port"): str(service.port),
        service.env("management_port"): str(service.management_port),
        service.env("migrate_on_start"): "false",  # the migration Job does it
        service.env("database_sslmode"): "verify-full",
        service.env("database_sslrootcert"): str(POSTGRES_CA),
        service.env("log_level"): "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    if service.name in RELAY_PROCESSES:
        config[service.env("role")] = "api"  # the relay pods (role relay) publish the outbox
    if "jwks_url" in fields:
        config[service.env("jwks_url")] = "https://login.signaalpunt.example/.well-known/jwks.json"
        config[service.env("token_issuer")] = "https://login.signaalpunt.example"
    for field, _secret, path in _secret_files(service):
        # a setting that is a file path names the mounted file; any other is read from it
        variable = service.env(field) if field.endswith("_file") else service.env(field) + "_FILE"
        config[variable] = path
    return config


def _service_secrets(service: Service) -> list[dict[str, Any]]:
    """The projected Secret keys a service reads: its database URL, its Kafka password and the
    secret settings it reads from files."""
    return [
        {
            "secret": {
                "name": f"signaalpunt-db-{service.name}",
                "items": [{"key": "url", "path": "database-url"}],
            }
        },
        {  # made by Strimzi's user operator for the service's KafkaUser (same name)
            "secret": {
                "name": service.name,
                "items": [{"key": "password", "path": "kafka-password"}],
            }
        },
        *(_secret_key(secret, path) for _field, secret, path in _secret_files(service)),
    ]


def _secret_key(secret: str, path: str) -> dict[str, Any]:
    return {"secret": {"name": secret, "items": [{"key": "value", "path": path.rsplit("/", 1)[1]}]}}


def _probes() -> dict[str, Any]:
    """Liveness is the process and its event loop (/livez): a Kafka or PostgreSQL outage must not
    restart every pod, and a paused consumer is an alert, not a restart. Readiness (/readyz) is
    what the service needs (intake: PostgreSQL alone). Start-up (/startupz) gives migrations and
    the first connections three minutes. All on the management port."""
    port = {"port": "management"}
    return {
        "startupProbe": {
            "httpGet": {"path": "/startupz", **port},
            "periodSeconds": 5,
            "failureThreshold": 36,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", **port},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/livez", **port},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }


def _ca_volumes() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(volume, mount) for the PostgreSQL and Kafka CAs a service verifies TLS with."""
    return [
        (
            {
                "name": "postgres-ca",
                "secret": {
                    "secretName": f"{POSTGRES_CLUSTER}-ca",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                },
            },
            {"name": "postgres-ca", "mountPath": str(POSTGRES_CA.parent), "readOnly": True},
        ),
        (
            {
                "name": "kafka-ca",
                "secret": {
                    "secretName": f"{KAFKA_CLUSTER}-cluster-ca-cert",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                },
            },
            {"name": "kafka-ca", "mountPath": str(KAFKA_CA.parent), "readOnly": True},
        ),
    ]


def _deployment(
    name: str,
    module: str,
    port: int,
    management_port: int,
    secrets: list[dict[str, Any]],
    *,
    cas: bool = True,
    of: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment of the one image: non-root, read-only root filesystem, no service account
    token, spread over zones, probes on the management port, secrets as read-only files. `of`:
    another process of that service (its relay): its account and settings, with `env` on top,
    and no API port."""
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    extra = _ca_volumes() if cas else []
    owner = of or name
    api = [] if of else [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    container = {
        "name": name,
        "image": "signaalpunt",
        "command": ["python", "-m", module],
        "ports": [
            *api,
            {"name": "management", "containerPort": management_port, "protocol": "TCP"},
        ],
        "envFrom": [{"configMapRef": {"name": f"{owner}-config"}}],
        **({"env": [{"name": k, "value": v} for k, v in (env or {}).items()]} if env else {}),
        "resources": RESOURCES.get(name, DEFAULT_RESOURCES),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        **_probes(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            {"name": "secrets", "mountPath": str(SECRETS_DIR), "readOnly": True},
            *(mount for _volume, mount in extra),
        ],
    }
    volumes = [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "secrets", "projected": {"defaultMode": 0o440, "sources": secrets}},
        *(volume for volume, _mount in extra),
    ]
    pod = {
        "serviceAccountName": owner,
        "automountServiceAccountToken": False,
        # uvicorn's graceful shutdown takes up to 30 s (handled offsets committed)
        "terminationGracePeriodSeconds": 45,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
            }
        ],
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }


def _consumed(registry: TopicRegistry, service: Service) -> list[tuple[str, int]]:
    return [(t.name, t.partitions) for t in registry if service.name in t.consumers]


def _scaled_object(registry: TopicRegistry, service: Service) -> dict[str, Any]:
    consumed = _consumed(registry, service)
    triggers: list[dict[str, Any]] = [
        {
            "type": "kafka",
            "metadata": {
                "bootstrapServers": f"{KAFKA_CLUSTER}-kafka-bootstrap:9093",
                "consumerGroup": service.name,
                "topic": topic,
                "lagThreshold": "100",
                "offsetResetPolicy": "earliest",
            },
            "authenticationRef": {"name": "signaalpunt-keda-kafka"},
        }
        for topic, _ in consumed
    ]
    if service.name in EDGE_SERVICES:
        triggers.append({"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}})
    # partitions bound consumers: a replica beyond the smallest consumed topic's partitions
    # would sit idle on it
    most = min((p for _, p in consumed), default=6)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": service.name, "labels": _labels(service)},
        "spec": {
            "scaleTargetRef": {"name": service.name},
            "minReplicaCount": 2,
            "maxReplicaCount": max(2, most),
            "cooldownPeriod": 300,
            "triggers": triggers
            or [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
        },
    }


def _monitoring_ingress(port: int) -> dict[str, Any]:
    """Prometheus scrapes /metrics on the management port; nobody else reaches that port."""
    return {
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"port": port, "protocol": "TCP"}],
    }


def _relay_objects(service: Service) -> list[dict[str, Any]]:
    """The service's outbox relay as pods of their own (role `relay`): the service's account,
    settings and secrets (its Kafka principal publishes), the management port alone."""
    name = f"{service.name}-relay"
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    selector = {"matchLabels": {"app.kubernetes.io/name": name}}
    management = service.management_port
    return [
        _deployment(
            name,
            f"{service.package}.main",
            service.port,
            management,
            _service_secrets(service),
            of=service.name,
            env={service.env("role"): "relay"},
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [
                    {
                        "name": "management",
                        "port": management,
                        "targetPort": "management",
                        "protocol": "TCP",
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": labels},
            "spec": {"minAvailable": 1, "selector": selector},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": selector,
                "endpoints": [{"port": "management", "path": "/metrics", "interval": "15s"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-ingress", "labels": labels},
            "spec": {
                "podSelector": selector,
                "policyTypes": ["Ingress"],
                "ingress": [_monitoring_ingress(management)],
            },
        },
    ]


def _service_objects(registry: TopicRegistry, service: Service) -> list[dict[str, Any]]:
    labels = _labels(service)
    ingress: list[dict[str, Any]] = [_monitoring_ingress(service.management_port)]
    if service.name in EDGE_SERVICES:
        ingress.append(
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                        }
                    }
                ],
                "ports": [{"port": service.port, "protocol": "TCP"}],
            }
        )
    if service.name in CONSOLE_CALLS:
        # the staff console calls the API with the signed-in person's own token
        ingress.append(
            {
                "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "console"}}}],
                "ports": [{"port": service.port, "protocol": "TCP"}],
            }
        )
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": service.name, "labels": labels},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{service.name}-config", "labels": labels},
            "data": _config(service),
        },
        _deployment(
            service.name,
            f"{service.package}.main",
            service.port,
            service.management_port,
            _service_secrets(service),
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service.name, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": service.name},
                "ports": [
                    {"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"},
                    {
                        "name": "management",
                        "port": service.management_port,
                        "targetPort": "management",
                        "protocol": "TCP",
                    },
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": service.name, "labels": labels},
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service.name}},
            },
        },
        _scaled_object(registry, service),
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": service.name, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": service.name}},
                "endpoints": [{"port": "management", "path": "/metrics", "interval": "15s"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{service.name}-ingress", "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": service.name}},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        },
    ]
    relay = _relay_objects(service) if service.name in RELAY_PROCESSES else []
    return objects + relay


def _console_config(services: list[Service]) -> dict[str, str]:
    """The console's settings (signaalpunt_console.config): the consortium's identity provider,
    where browsers reach it, and the services it calls inside the cluster."""
    prefix = str(ConsoleSettings.model_config["env_prefix"])
    ports = {s.name: s.port for s in services}
    config = {
        "SIGNAALPUNT_ENVIRONMENT": "production",
        "HTTP_HOST": "0.0.0.0",  # noqa: S104 - inside the pod
        "HTTP_PORT": str(CONSOLE_PORT),
        "MANAGEMENT_PORT": str(CONSOLE_PORT + 1000),
        # the installation's own host names (an overlay patch): the OIDC redirect URI is built
        # from PUBLIC_URL, which must be https in production (Secure cookies)
        "PUBLIC_URL": "https://console.signaalpunt.example",
        "OIDC_DISCOVERY_URL": "https://login.signaalpunt.example/.well-known/openid-configuration",
        "OIDC_CLIENT_ID": "signaalpunt-console",
        "JWKS_URL": "https://login.signaalpunt.example/.well-known/jwks.json",
        "TOKEN_ISSUER": "https://login.signaalpunt.example",
        "GRAFANA_URL": "https://grafana.signaalpunt.example",
        **{f"{name.upper()}_URL": f"http://{name}:{ports[name]}" for name in sorted(CONSOLE_CALLS)},
        **{f"{field.upper()}_FILE": str(SECRETS_DIR / kebab) for field, kebab in CONSOLE_SECRETS},
    }
    return {
        name if name.startswith(("SIGNAALPUNT_", "OTEL_")) else f"{prefix}{name}".upper(): value
        for name, value in config.items()
    }


def console_objects(services: list[Service]) -> list[dict[str, Any]]:
    """The staff console: no Kafka, no database, no secrets but its own two (the session cookie's
    signing key and the OIDC client secret); reached through the ingress controller, and calling
    intake, triage, referral, matching and notifications on their API ports (docs/console.md)."""
    name = "console"
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    secrets = [
        _secret_key(f"signaalpunt-console-{kebab}", str(SECRETS_DIR / kebab))
        for _field, kebab in CONSOLE_SECRETS
    ]
    management = CONSOLE_PORT + 1000
    selector = {"matchLabels": {"app.kubernetes.io/name": name}}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "labels": labels},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config", "labels": labels},
            "data": _console_config(services),
        },
        _deployment(name, "signaalpunt_console.main", CONSOLE_PORT, management, secrets, cas=False),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [
                    {"name": "http", "port": CONSOLE_PORT, "targetPort": "http", "protocol": "TCP"},
                    {
                        "name": "management",
                        "port": management,
                        "targetPort": "management",
                        "protocol": "TCP",
                    },
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": labels},
            "spec": {"minAvailable": 1, "selector": selector},
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "scaleTargetRef": {"name": name},
                "minReplicaCount": 2,
                "maxReplicaCount": 4,
                "cooldownPeriod": 300,
                "triggers": [
                    {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
                ],
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": selector,
                "endpoints": [{"port": "management", "path": "/metrics", "interval": "15s"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-ingress", "labels": labels},
            "spec": {
                "podSelector": selector,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_namespace("monitoring")],
                        "ports": [{"port": management, "protocol": "TCP"}],
                    },
                    {
                        "from": [_namespace("ingress-nginx")],
                        "ports": [{"port": CONSOLE_PORT, "protocol": "TCP"}],
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-egress", "labels": labels},
            "spec": {
                "podSelector": selector,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": called}}}
                        ],
                        "ports": [{"port": service.port, "protocol": "TCP"}],
                    }
                    for service in services
                    if (called := service.name) in CONSOLE_CALLS
                ],
            },
        },
    ]


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def kafka_topics(registry: TopicRegistry, settings: TopicSettings) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            # Kubernetes names allow no dots in labels' values but do in names; topicName keeps
            # the exact registry name either way
            "metadata": {
                "name": spec.name.replace(".", "-"),
                "labels": {"strimzi.io/cluster": KAFKA_CLUSTER},
            },
            "spec": {
                "topicName": spec.name,
                "partitions": spec.partitions,
                "replicas": settings.replication_factor,
                "config": settings.config_for(spec),
            },
        }
        for spec in registry.broker_topics()
    ]


def _acl_rules(acls: set[Acl]) -> list[dict[str, Any]]:
    by_resource: dict[tuple[str, str, str], list[str]] = {}
    for acl in sorted(acls):
        by_resource.setdefault((acl.resource_type, acl.name, acl.pattern), []).append(acl.operation)
    return [
        {
            "resource": {"type": kind, "name": name, "patternType": pattern},
            "operations": operations,
        }
        for (kind, name, pattern), operations in by_resource.items()
    ]


def _partners() -> list[tuple[str, str]]:
    """(KafkaUser name, partner URN) for every development partner (deploy/local/partners.yaml;
    production partners are data in intake's partner registry, each added with its KafkaUser)."""
    data = yaml.safe_load((REPO / "deploy/local/partners.yaml").read_text())
    return [("partner-" + p["urn"].rsplit(":", 1)[-1], p["urn"]) for p in data["partners"]]


def kafka_users(registry: TopicRegistry) -> list[dict[str, Any]]:
    users = [
        (name, "service", service_acls(registry, name)) for name in service_principals(registry)
    ]
    users += [(name, "partner", partner_acls(registry, urn)) for name, urn in _partners()]
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaUser",
            "metadata": {
                "name": name,
                "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, "signaalpunt.nl/principal": kind},
            },
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": _acl_rules(acls)},
            },
        }
        for name, kind, acls in users
    ]


def prometheus_rule() -> dict[str, Any]:
    groups = []
    for path in sorted((REPO / "deploy/prometheus/rules").glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "signaalpunt", "labels": {**PART_OF, "role": "alert-rules"}},
        "spec": {"groups": groups},
    }


def dashboards() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{path.stem}",
                # Grafana's dashboard sidecar picks up ConfigMaps with this label
                "labels": {**PART_OF, "grafana_dashboard": "1"},
                "annotations": {"grafana_folder": "Signaalpunt"},
            },
            "data": {path.name: json.dumps(json.loads(path.read_text()), indent=1)},
        }
        for path in sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
    ]


def render(registry: TopicRegistry = REGISTRY) -> dict[str, str]:
    """File name → content of every generated file."""
    services = discover_services()

    def dump(objects: list[dict[str, Any]], what: str) -> str:
        header = (
            f"# {what}. Generated by scripts/k8s_manifests.py (`make manifests`): do not edit.\n"
        )
        return header + yaml.safe_dump_all(objects, sort_keys=False, width=100)

    return {
        "services.yaml": dump(
            [
                *(o for s in services for o in _service_objects(registry, s)),
                *console_objects(services),
            ],
            "Every service under services/ and the staff console",
        ),
        "kafka-topics.yaml": dump(
            kafka_topics(registry, PRODUCTION_TOPICS),
            "The topic registry (contracts/) as Strimzi KafkaTopics, production durability",
        ),
        "kafka-users.yaml": dump(
            kafka_users(registry),
            "A Kafka principal per service and partner, ACLs from the registry",
        ),
        "prometheus-rules.yaml": dump([prometheus_rule()], "deploy/prometheus/rules"),
        "grafana-dashboards.yaml": dump(dashboards(), "deploy/grafana/dashboards"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    stale = []
    for name, content in render().items():
        path = OUT / name
        if path.exists() and path.read_text() == content:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if args.check and stale:
        print(f"stale in k8s/base/generated: {', '.join(stale)} (run `make manifests`)")
        return 1
    print("written: " + ", ".join(stale) if stale else "k8s/base/generated is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
