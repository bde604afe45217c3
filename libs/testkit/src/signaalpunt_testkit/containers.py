"""The test infrastructure through testcontainers, where a Docker engine runs.

`SIGNAALPUNT_TEST_INFRA` chooses: `local` (the default: the Kafka and PostgreSQL that
`make infra-up` runs from deploy/local/, as on the development machines and CI, which have no
Docker engine) or `testcontainers` (the plugin starts the same versions as compose.yaml, for the
session, and stops them at its end; the registry's topics are created on them).

PostgreSQL comes from testcontainers' PostgreSQL module. Kafka is Apache's own image (the version
deploy/local and compose run) as a generic container: testcontainers' Kafka module is written for
Confluent's images and their start scripts. Its client port is bound to a free host port chosen
beforehand, so the broker can advertise it from the start.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:17"
KAFKA_CLIENT_PORT = 19092
InfraMode = Literal["local", "testcontainers"]


def infra_mode() -> InfraMode:
    value = os.environ.get("SIGNAALPUNT_TEST_INFRA", "").strip().lower() or "local"
    if value == "local":
        return "local"
    if value == "testcontainers":
        return "testcontainers"
    raise ValueError(f"SIGNAALPUNT_TEST_INFRA={value!r}: use 'local' or 'testcontainers'")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_ADMIN_PLAIN = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="signaalpunt-admin" password="signaalpunt-dev-admin" '
    'user_signaalpunt-admin="signaalpunt-dev-admin";'
)
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
KAFKA_SASL = {
    # as compose.yaml: SASL everywhere and the StandardAuthorizer; the admin a static PLAIN
    # user (the tests' principal: SIGNAALPUNT_KAFKA_SASL_MECHANISM=PLAIN), services SCRAM
    "KAFKA_SASL_ENABLED_MECHANISMS": "PLAIN,SCRAM-SHA-512",
    "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "PLAIN",
    "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL": "PLAIN",
    "KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS": "PLAIN",
    "KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG": (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="controller" password="signaalpunt-dev-controller" '
        'user_controller="signaalpunt-dev-controller";'
    ),
    "KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG": _ADMIN_PLAIN,
    "KAFKA_LISTENER_NAME_HOST_PLAIN_SASL_JAAS_CONFIG": _ADMIN_PLAIN,
    "KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG": _SCRAM,
    "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG": _SCRAM,
    "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
    "KAFKA_SUPER_USERS": "User:signaalpunt-admin;User:controller",
}


def kafka_environment(host_port: int) -> dict[str, str]:
    """A single KRaft node like compose.yaml's, advertising `127.0.0.1:<host_port>` to tests."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"INTERNAL://:9092,HOST://:{KAFKA_CLIENT_PORT},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://localhost:9092,HOST://127.0.0.1:{host_port}",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT"
        ),
        **KAFKA_SASL,
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xms384m -Xmx384m",
    }


def kafka_container(host_port: int) -> DockerContainer:
    container = DockerContainer(KAFKA_IMAGE)
    for name, value in kafka_environment(host_port).items():
        container.with_env(name, value)
    return container.with_bind_ports(KAFKA_CLIENT_PORT, host_port)


def postgres_container() -> PostgresContainer:
    return PostgresContainer(
        POSTGRES_IMAGE,
        username="signaalpunt",
        password="signaalpunt",  # noqa: S106 - a throwaway container's
        dbname="signaalpunt",
        driver=None,
    )


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: str


@contextmanager
def started_infra(startup_timeout: float = 120) -> Iterator[Endpoints]:
    """Kafka and PostgreSQL in containers for as long as the block runs."""
    port = free_port()
    with postgres_container() as postgres, kafka_container(port) as kafka:
        wait_for_logs(kafka, "Kafka Server started", timeout=startup_timeout)
        yield Endpoints(
            kafka_bootstrap=f"127.0.0.1:{port}",
            database_url=postgres.get_connection_url(driver=None),
        )
