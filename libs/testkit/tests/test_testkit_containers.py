"""The testcontainers option of the test kit: chosen by SIGNAALPUNT_TEST_INFRA, configured like
compose.yaml's Kafka and PostgreSQL. Docker is not needed to check the configuration; where an
engine answers, the containers are started for real."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest
import yaml
from signaalpunt_testkit.containers import (
    KAFKA_CLIENT_PORT,
    KAFKA_SASL,
    infra_mode,
    kafka_container,
    kafka_environment,
    postgres_container,
    started_infra,
)

REPO = Path(__file__).resolve().parents[3]


class _NoEngine:
    """Stands in for the Docker client: building a container's configuration needs no engine."""

    def __init__(self, **_: object) -> None:
        pass


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("testcontainers.core.container.DockerClient", _NoEngine)


def test_local_infrastructure_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNAALPUNT_TEST_INFRA", raising=False)
    assert infra_mode() == "local"
    monkeypatch.setenv("SIGNAALPUNT_TEST_INFRA", "Testcontainers")
    assert infra_mode() == "testcontainers"
    monkeypatch.setenv("SIGNAALPUNT_TEST_INFRA", "docker")
    with pytest.raises(ValueError, match="local' or 'testcontainers"):
        infra_mode()


@pytest.mark.usefixtures("no_engine")
def test_kafka_is_the_compose_broker_advertising_its_host_port() -> None:
    container = kafka_container(31_092)
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["kafka"]
    assert container.image.endswith(compose["image"])
    assert container.ports == {str(KAFKA_CLIENT_PORT): 31_092}
    env = kafka_environment(31_092)
    assert container.env == env
    assert "HOST://127.0.0.1:31092" in env["KAFKA_ADVERTISED_LISTENERS"]
    same = ("KAFKA_PROCESS_ROLES", "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "KAFKA_HEAP_OPTS")
    for name in (*same, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", *KAFKA_SASL):
        assert env[name] == " ".join(compose["environment"][name].split()), name


@pytest.mark.usefixtures("no_engine")
def test_postgres_is_the_compose_database() -> None:
    container = postgres_container()
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["postgres"]
    assert container.image.endswith(compose["image"])
    container._configure()
    assert container.env["POSTGRES_USER"] == compose["environment"]["POSTGRES_USER"]
    assert container.env["POSTGRES_DB"] == compose["environment"]["POSTGRES_DB"]


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _docker_answers(), reason="no Docker engine here (the local infra is used)")
def test_the_containers_start_and_answer() -> None:
    async def answers(dsn: str) -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT 1"))
        finally:
            await conn.close()

    with started_infra() as endpoints:
        assert asyncio.run(answers(endpoints.database_url)) == 1
        assert endpoints.kafka_bootstrap.startswith("127.0.0.1:")
