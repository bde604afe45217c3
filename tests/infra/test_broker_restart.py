"""Nothing is lost when the broker restarts: messages and committed group offsets survive.

This test runs a second, private broker through the project's own `deploy/local/infra.sh` (other
ports, another data folder), so restarting it disturbs no other test.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from signaalpunt_contracts import TopicSpec
from signaalpunt_runtime.broker_factory import client_options
from signaalpunt_runtime.topic_admin import ensure_topics
from signaalpunt_testkit.plugin import repo_root

TOTAL = 500
CONSUMED_BEFORE_RESTART = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "SIGNAALPUNT_KAFKA_PORT": str(self.port),
            "SIGNAALPUNT_KAFKA_CONTROLLER_PORT": str(_free_port()),
            "SIGNAALPUNT_KAFKA_TLS_PORT": str(_free_port()),  # its TLS listener too
            "SIGNAALPUNT_KAFKA_DIR": str(data_dir),
        }
        self.data_dir = data_dir
        self.script = repo_root() / "deploy" / "local" / "infra.sh"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, verb: str) -> None:
        result = subprocess.run(
            [str(self.script), verb, "kafka"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"infra.sh {verb} kafka failed:\n{result.stderr}"

    def pid(self) -> int | None:
        pidfile = self.data_dir / "kafka.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    b = PrivateBroker(tmp_path / "kafka")
    b.run("up")
    yield b
    b.run("down")


async def _consume(
    bootstrap: str, topic: str, group: str, want: int
) -> dict[TopicPartition, list[str]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=50,
        **client_options(),
    )
    await consumer.start()
    got: dict[TopicPartition, list[str]] = {}
    next_offsets: dict[TopicPartition, int] = {}
    try:
        count = 0
        while count < want:
            batch = await consumer.getmany(timeout_ms=10000, max_records=min(50, want - count))
            assert batch, f"stalled after {count} of {want}"
            for tp, records in batch.items():
                got.setdefault(tp, []).extend(bytes(r.value or b"").decode() for r in records)
                next_offsets[tp] = records[-1].offset + 1
                count += len(records)
        # commit exactly what was processed, not what was prefetched
        await consumer.commit(next_offsets)
    finally:
        await consumer.stop()
    return got


async def test_messages_and_offsets_survive_a_broker_restart(broker: PrivateBroker) -> None:
    first_pid = broker.pid()
    broker.run("up")  # a second `up` is harmless: same process
    assert broker.pid() == first_pid

    topic = "restart.smoke.v1"
    await ensure_topics(broker.bootstrap, [TopicSpec(topic, 2, {})])
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True, **client_options()
    )
    await producer.start()
    try:
        for i in range(TOTAL):
            await producer.send(topic, key=f"signal-{i % 13}".encode(), value=f"event-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    before = await _consume(broker.bootstrap, topic, "restart-group", CONSUMED_BEFORE_RESTART)
    assert sum(len(v) for v in before.values()) == CONSUMED_BEFORE_RESTART

    broker.run("down")
    assert first_pid is not None
    assert not _alive(first_pid), "broker process left behind"
    broker.run("up")
    assert broker.pid() != first_pid

    everything = await _consume(broker.bootstrap, topic, "fresh-reader", TOTAL)
    assert sorted(v for vs in everything.values() for v in vs) == sorted(
        f"event-{i}" for i in range(TOTAL)
    )

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets("restart-group")
    finally:
        await admin.close()
    assert {tp: meta.offset for tp, meta in offsets.items()} == {
        tp: len(values) for tp, values in before.items()
    }

    rest = await _consume(broker.bootstrap, topic, "restart-group", TOTAL - CONSUMED_BEFORE_RESTART)
    seen_twice = {v for vs in before.values() for v in vs} & {v for vs in rest.values() for v in vs}
    assert not seen_twice, "the group resumed before its committed offset"
    assert sum(len(v) for v in rest.values()) == TOTAL - CONSUMED_BEFORE_RESTART
