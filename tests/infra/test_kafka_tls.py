"""The local broker's TLS listener (SASL_SSL, as the brokers in production): its certificate is
signed by a local CA made at `infra.sh up` (deploy/local/kafka_tls.py, into .local/), and a client
that verifies it with that CA works as a service principal would; a client that does not trust
the CA, or that talks without TLS to the TLS port, gets nowhere."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from pydantic import SecretStr
from signaalpunt_contracts.topics import TopicSpec
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.kafka_security import KafkaSecurity, development_password
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics
from signaalpunt_testkit.plugin import Infra, repo_root

REFUSED = (KafkaError, OSError, TimeoutError)


def tls_settings() -> tuple[str, Path]:
    """The TLS listener's address and the local CA, as `infra.sh env` states them."""
    script = repo_root() / "deploy" / "local" / "infra.sh"
    out = subprocess.run([str(script), "env"], check=True, capture_output=True, text=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return env["SIGNAALPUNT_KAFKA_TLS_BOOTSTRAP"], Path(env["SIGNAALPUNT_KAFKA_TLS_CAFILE"])


def as_admin(**tls: Any) -> KafkaSecurity:
    # the admin principal writes and reads the private topic (no ACLs to wait for)
    return KafkaSecurity(
        username="signaalpunt-admin",
        password=SecretStr(development_password("signaalpunt-admin")),
        **tls,
    )


async def round_trip(bootstrap: str, topic: str, security: KafkaSecurity) -> None:
    producer = make_producer(bootstrap, client_id="tls-test", security=security)
    value = uuid.uuid4().hex.encode()
    try:
        await asyncio.wait_for(producer.start(), 20)
        await asyncio.wait_for(producer.send_and_wait(topic, value), 20)
    finally:
        await producer.stop()
    reader = make_reader(bootstrap, security=security)
    try:
        await asyncio.wait_for(reader.start(), 20)
        reader.subscribe([topic])
        record = await asyncio.wait_for(reader.getone(), 20)
    finally:
        await reader.stop()
    assert record.value == value


async def test_a_client_verifying_the_local_ca_talks_sasl_over_tls(infra: Infra) -> None:
    bootstrap, ca = tls_settings()
    assert ca.is_file(), "infra.sh up makes the local CA"
    topic = f"t-tls-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, 1, {})])
    try:
        await round_trip(bootstrap, topic, as_admin(protocol="SASL_SSL", ssl_cafile=ca))
        # without the local CA the broker's certificate is not trusted
        with pytest.raises(REFUSED):
            await round_trip(bootstrap, topic, as_admin(protocol="SASL_SSL"))
        # and nobody talks to the TLS port without TLS
        with pytest.raises(REFUSED):
            await round_trip(bootstrap, topic, as_admin(protocol="SASL_PLAINTEXT"))
    finally:
        await delete_topics(infra.kafka_bootstrap, [topic])


def test_the_ca_and_the_broker_key_are_not_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"],
        cwd=repo_root(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert not [path for path in tracked if path.endswith((".pem", ".key", ".p12", ".jks"))]
