"""Intake's process roles and worker processes, each a real process on the real Kafka and
PostgreSQL (intake_process.py): an `api` process with a `relay` process beside it, and one
replica of two HTTP workers. Every signal accepted over HTTP reaches signals.received.v1 once,
in outbox order per partition, whoever relays it and whatever stops meanwhile."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    CASE_STEPS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    SIGNALS_ERASED,
    SIGNALS_RECEIVED,
)
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_runtime.outbox import EVENT_ID_HEADER
from signaalpunt_testkit.containers import free_port
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.processes import KillableProcess
from test_http_channels import web_form

SCRIPT = Path(__file__).parent / "intake_process.py"


@dataclass
class IntakeProcess:
    process: KillableProcess
    api: str
    management: str

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


@dataclass
class Setup:
    infra: Infra
    database_url: str
    topics: dict[str, str]
    env: dict[str, str]  # intake's settings shared by every process of the test
    log_dir: Path

    def intake(self, name: str, **settings: str) -> IntakeProcess:
        """An intake process (not started) with `settings` (SIGNAALPUNT_INTAKE_<NAME>=value)."""
        api, management = free_port(), free_port()
        env = {
            **self.env,
            "SIGNAALPUNT_INTAKE_HTTP_PORT": str(api),
            "SIGNAALPUNT_INTAKE_MANAGEMENT_PORT": str(management),
            **{f"SIGNAALPUNT_INTAKE_{k.upper()}": v for k, v in settings.items()},
        }
        log_dir = self.log_dir / name
        log_dir.mkdir()
        return IntakeProcess(
            KillableProcess(SCRIPT, env, log_dir),
            f"http://127.0.0.1:{api}",
            f"http://127.0.0.1:{management}",
        )

    async def outbox(self) -> dict[str, tuple[int, bool]]:
        """Event id → (outbox id, published) for the received topic."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT event_id, id, published_at IS NOT NULL AS published FROM intake.outbox"
                " WHERE topic = $1",
                self.topics["received"],
            )
        finally:
            await conn.close()
        return {str(r["event_id"]): (r["id"], r["published"]) for r in rows}


@pytest.fixture
async def setup(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> Setup:
    keys = tmp_path / "keys"
    keys.mkdir()
    generate_key_pair(keys)
    generate_partner_keys(keys / "partner-key.json", keys / "partner-jwks.json", kid="test")
    tag = f"r{os.urandom(3).hex()}"  # each test its own topics
    private = kafka_topics.private
    topics = {
        "received": await private(SIGNALS_RECEIVED, f"{tag}.signals.received.v1"),
        "partner_signals": await private(PARTNER_SIGNALS, f"{tag}.partner.signals.v1"),
        "rejections": await private(PARTNER_REJECTIONS, f"{tag}.partner.signals.rejections.v1"),
        "case_steps": await private(CASE_STEPS, f"{tag}.cases.steps.v1", consumers=("intake",)),
        "erased": await private(SIGNALS_ERASED, f"{tag}.signals.erased.v1"),
    }
    env = {
        "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "SIGNAALPUNT_DATABASE_URL": database_url,
        "SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS": KeyEncryptionKeys.generate_spec("test"),
        "SIGNAALPUNT_INTAKE_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
        "SIGNAALPUNT_INTAKE_JWKS_FILE": str(keys / "jwks.json"),
        "SIGNAALPUNT_INTAKE_PARTNER_DECRYPTION_KEY_FILE": str(keys / "partner-key.json"),
        "SIGNAALPUNT_INTAKE_PARTNER_TOPIC_PREFIX": f"t-{tag}.partner.",
        "SIGNAALPUNT_INTAKE_OUTBOX_POLL_INTERVAL": "0.2",
        "SIGNAALPUNT_INTAKE_WEB_FORM_LIMIT": "10000",
        "SIGNAALPUNT_INTAKE_LOG_LEVEL": "INFO",
        **{f"INTAKE_TOPIC_{name.upper()}": topic.name for name, topic in topics.items()},
    }
    names = {name: topic.name for name, topic in topics.items()}
    return Setup(infra, database_url, names, env, tmp_path)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 120, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def ready(intake: IntakeProcess) -> dict[str, Any]:
    """Wait for the process's /readyz; its body."""
    answer: dict[str, Any] = {}

    async def check() -> bool:
        assert intake.process.proc is not None
        assert intake.process.proc.poll() is None, f"it exited: {intake.process.log_dir}"
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                response = await client.get(f"{intake.management}/readyz")
        except httpx.TransportError:
            return False
        answer.update(response.json())
        return response.status_code == 200

    await eventually(check, what=f"{intake.process.log_dir.name} to be ready")
    return answer


async def post_signals(url: str, count: int) -> list[str]:
    """`count` web-form signals, ten at a time, each on a connection of its own (so a replica's
    workers each get some); the signal ids accepted."""
    accepted: list[str] = []

    async def one() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            answer = await client.post("/v1/signals", json=web_form())
        assert answer.status_code == 202, answer.text
        accepted.append(answer.json()["signal_id"])

    for start in range(0, count, 10):
        await asyncio.gather(*(one() for _ in range(min(10, count - start))))
    return accepted


async def published(setup: Setup, signal_ids: list[str]) -> list[tuple[int, str, str]]:
    """(partition, signal id, event id) of every record on the received topic, in each
    partition's order, once all of `signal_ids` are there and the topic has nothing more."""
    reader = make_reader(setup.infra.kafka_bootstrap)
    await reader.start()
    records: list[tuple[int, str, str]] = []
    try:
        reader.subscribe([setup.topics["received"]])
        quiet = 0
        deadline = time.monotonic() + 120
        while quiet < 3 or not set(signal_ids) <= {key for _, key, _ in records}:
            assert time.monotonic() < deadline, "events missing on the topic"
            batch = await reader.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for part, got in batch.items():
                records += [
                    (
                        part.partition,
                        (r.key or b"").decode(),
                        dict(r.headers)[EVENT_ID_HEADER].decode(),
                    )
                    for r in got
                ]
    finally:
        await reader.stop()
    return records


async def assert_published_once_in_order(setup: Setup, signal_ids: list[str]) -> None:
    records = await published(setup, signal_ids)
    keys = [key for _, key, _ in records]
    assert sorted(keys) == sorted(signal_ids), "every accepted signal once, nothing else"
    outbox = await setup.outbox()
    for partition in {p for p, _, _ in records}:
        ids = [outbox[event][0] for p, _, event in records if p == partition]
        assert ids == sorted(ids), f"partition {partition} out of outbox order"


async def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"{url}/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_an_api_process_writes_the_outbox_and_a_relay_process_publishes_it(
    setup: Setup,
) -> None:
    api = setup.intake("api", role="api")
    relay = setup.intake("relay", role="relay")
    api.process.start()
    relay.process.start()
    try:
        assert (await ready(api))["checks"]["outbox_relay"] == "elsewhere"
        relay_checks = await ready(relay)
        assert relay_checks["needs"] == ["postgres", "kafka"]
        with pytest.raises(httpx.ConnectError):  # a relay process serves no API
            async with httpx.AsyncClient() as client:
                await client.get(f"{relay.api}/v1/signals")

        first = await post_signals(api.api, 40)
        await assert_published_once_in_order(setup, first)

        relay.process.kill()
        waiting = await post_signals(api.api, 20)
        await asyncio.sleep(2)  # ten of the api's poll intervals: a relay in it would have run
        outbox = await setup.outbox()
        assert len(outbox) == 60
        assert sum(1 for _, done in outbox.values() if not done) == 20, "they wait in the outbox"
        # the api process has no relay: none of the relay's series
        assert not [name for name, _ in await metrics(api.management) if "outbox" in name]

        relay.process.start()
        await ready(relay)
        await assert_published_once_in_order(setup, first + waiting)
    finally:
        api.process.stop()
        relay.process.stop()


async def test_two_workers_share_a_replica_and_stop_together(setup: Setup) -> None:
    replica = setup.intake("workers", http_workers="2")
    replica.process.start()
    try:
        body = await ready(replica)
        assert set(body["workers"]) == {"1", "2"}
        workers = children(replica.pid)
        assert len(workers) == 2, "two worker processes under the supervisor"

        # fresh connections until both workers have served some (the kernel picks the worker)
        accepted: list[str] = []
        served: dict[str, float] = {}
        while len(accepted) < 400 and not (served.get("1") and served.get("2")):
            accepted += await post_signals(replica.api, 20)
            served = await requests_by_worker(replica.management)
        assert served.get("1"), f"one worker served all: {served}"
        assert served.get("2"), f"one worker served all: {served}"
        await assert_published_once_in_order(setup, accepted)

        # a burst, then SIGTERM as soon as it is accepted: the workers stop gracefully
        burst = await post_signals(replica.api, 30)
        assert replica.process.proc is not None
        replica.process.proc.send_signal(signal.SIGTERM)
        assert replica.process.proc.wait(timeout=90) == 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker lives on"
    finally:
        replica.process.stop()

    # nothing lost: every accepted signal is in the outbox; a relay publishes what is left
    assert set(accepted + burst) <= set(await outbox_keys(setup))
    relay = setup.intake("relay-after", role="relay")
    relay.process.start()
    try:
        await ready(relay)
        await assert_published_once_in_order(setup, accepted + burst)
    finally:
        relay.process.stop()


def children(pid: int) -> list[int]:
    """The process's child processes (Linux: /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


async def requests_by_worker(management: str) -> dict[str, float]:
    """Requests each worker has served (the replica's /metrics, labelled by worker)."""
    counts: dict[str, float] = {}
    for (name, labels), value in (await metrics(management)).items():
        if name == "signaalpunt_http_request_duration_seconds_count":
            worker = dict(labels)["worker"]
            counts[worker] = counts.get(worker, 0) + value
    return counts


async def outbox_keys(setup: Setup) -> list[str]:
    conn = await asyncpg.connect(setup.database_url)
    try:
        rows = await conn.fetch(
            "SELECT key FROM intake.outbox WHERE topic = $1", setup.topics["received"]
        )
    finally:
        await conn.close()
    return [r["key"] for r in rows]


async def test_a_worker_that_dies_stops_the_replica(setup: Setup) -> None:
    replica = setup.intake("worker-dies", http_workers="2")
    replica.process.start()
    try:
        await ready(replica)
        first, second = children(replica.pid)
        os.kill(first, signal.SIGKILL)
        assert replica.process.proc is not None
        # not restarted: the replica exits with the worker's status, the other worker stopped
        assert replica.process.proc.wait(timeout=90) == 128 + signal.SIGKILL
        assert not Path(f"/proc/{second}").exists(), "the other worker lives on"
    finally:
        replica.process.stop()
    log = (replica.process.log_dir / "run-1.log").read_text()
    assert "worker exited; stopping the replica" in log
