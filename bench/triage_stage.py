"""`make bench`: triage's consumer stage on a backlog, against a raw aiokafka loop in the same run.

A backlog of ordinary signals (the evaluation corpus's texts without risk, sealed with each
subject's data key as intake does) with one acute text at its end is put on a fresh copy of
`signals.received.v1`, and the triage service (in this process, with its HTTP ports, its outbox
relay and, where on, its acute lane) works it off from a database of its own. Variants:

- one at a time, no acute lane (triage before issue 22's work);
- one at a time, with the acute lane;
- in batches (`consume_batch_size`), with the acute lane (the default);
- in batches, no acute lane.

Per variant: signals decided per second (first to last decision), CPU milliseconds per signal of
this process (the service: both lanes and the relay) and of PostgreSQL (its postmaster and
every backend, found by the port it listens on), the ratio to the raw consume→produce loop over
the same events (batched, acks=all) measured at the start of the run, and where the acute signal
came: how many of the backlog were decided before it, and the seconds from the first decision to
its alert. Results go to bench/results/triage_stage.{json,md}, with the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
import yaml
from aiokafka import TopicPartition
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    CASE_STEPS,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    Channel,
    Concern,
    Envelope,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    Subject,
    Topic,
    TopicRegistry,
)
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_privacy.keys import MIGRATIONS as KEY_MIGRATIONS
from signaalpunt_privacy.keys import SCHEMA as KEY_SCHEMA
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.kafka_security import ADMIN
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.serving import serving
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics
from signaalpunt_triage.config import TriageSettings
from signaalpunt_triage.handlers import Topics
from signaalpunt_triage.main import build

# the service in this process reads and writes the run's own topics: the admin principal (the
# services' own principals may use only the registry's topics)
os.environ.setdefault("SIGNAALPUNT_KAFKA_USERNAME", ADMIN)
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CORPUS = REPO / "services" / "triage" / "corpus" / "signals.yaml"
KAFKA = os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
PG_PORT = urlsplit(DATABASE).port or 5432
EVENTS = int(os.environ.get("BENCH_TRIAGE_EVENTS", "3000"))
BATCH = int(os.environ.get("BENCH_TRIAGE_BATCH", "200"))
LOG_LEVEL = os.environ.get("BENCH_TRIAGE_LOG_LEVEL", "WARNING")
ACUTE_TEXT = "Ze zei gisteren dat ze niet meer wil leven."
ACUTE = 12
"""Acute texts at the end of the backlog: with six partitions, where one acute text comes
depends on its partition; the last of twelve is where the promise is kept or broken."""
VARIANTS = (
    ("one at a time, no acute lane", 1, False),
    ("one at a time, acute lane", 1, True),
    ("batches, acute lane", BATCH, True),
    ("batches, no acute lane", BATCH, False),
)


def ordinary_texts() -> list[str]:
    signals = yaml.safe_load(CORPUS.read_text())["signals"]
    return [s["text"] for s in signals if s["tier"] == "geen"]


def database_named(name: str) -> str:
    parts = urlsplit(DATABASE)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def sealed_backlog(dsn: str, kek: str) -> list[bytes]:
    """EVENTS ordinary signals and ACUTE acute ones at the end, as intake would publish them."""
    store = PostgresSubjectKeyStore.with_own_pool(dsn, KeyEncryptionKeys.from_spec(kek))
    await store.open()
    vault = PersonalDataVault(store)
    texts = ordinary_texts()
    values: list[bytes] = []
    try:
        for start in range(0, EVENTS + ACUTE, 500):
            keys = []
            for i in range(start, min(start + 500, EVENTS + ACUTE)):
                subject_id = uuid.uuid4()
                sealer, new = vault.new_subject(subject_id, "GM0715")
                keys.append(new)
                text = ACUTE_TEXT if i >= EVENTS else texts[i % len(texts)]
                signal = SignalReceivedV1(
                    signal_id=uuid.uuid4(),
                    subject_id=subject_id,
                    channel=Channel.WEB_FORM,
                    reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
                    subject=Subject(),
                    concern=Concern(text=sealer.seal(text, field="concern.text"), cues=()),
                    reported_urgency=ReportedUrgency.NORMAL,
                    received_at=datetime.now(UTC),
                )
                event = Envelope.new(signal, municipality="GM0715", producer="intake")
                values.append(event.model_dump_json().encode())
            await vault.keep(keys)
    finally:
        await store.close()
    return values


async def fill(topic: str, values: list[bytes]) -> None:
    producer = make_producer(KAFKA, client_id="bench-triage-fill")
    await producer.start()
    try:
        futures = []
        for value in values:
            key = json.loads(value)["data"]["signal_id"].encode()
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_loop(source: str, target: str, events: int) -> float:
    """The baseline: consume → produce in batches, acks=all, commit per batch; no database."""
    # the tools' reader and producer: no auto-commit, acks=all and idempotent, as the stage
    consumer = make_reader(KAFKA, group=f"raw-{time.time_ns()}")
    producer = make_producer(KAFKA, client_id="bench-triage-raw")
    await consumer.start()
    consumer.subscribe([source])
    await producer.start()
    done = 0
    started: float | None = None
    offsets: dict[TopicPartition, int] = {}
    try:
        while done < events:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            started = started or time.perf_counter()
            futures = []
            for tp, records in batch.items():
                for record in records:
                    futures.append(await producer.send(target, record.value, key=record.key))
                offsets[tp] = records[-1].offset + 1
            await asyncio.gather(*futures)
            done += len(futures)
            await consumer.commit(offsets)
        assert started is not None
        return events / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL listening on our port, with every backend under it."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == PG_PORT:
            root = psutil.Process(conn.pid)
            total = 0.0
            for proc in (root, *root.children(recursive=True)):
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total
    return float("nan")


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def private_topics(run: str) -> Topics:
    def private(base: Topic) -> Topic:
        return replace(base, name=f"{run}.{base.name}")

    return Topics(
        received=private(SIGNALS_RECEIVED),
        triaged=private(SIGNALS_TRIAGED),
        alerts=private(SIGNALS_ACUTE_ALERTS),
        missed=private(SIGNALS_DEADLINE_MISSED),
        steps=private(CASE_STEPS),
        possible_alerts=private(SIGNALS_POSSIBLE_ACUTE_ALERTS),
        review_missed=private(SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED),
        referrals=private(REFERRALS),
        erased=private(SIGNALS_ERASED),
    )


async def variant(name: str, batch: int, lane: bool, jwks: Path) -> dict[str, Any]:
    run = f"bench-triage-{uuid.uuid4().hex[:8]}"
    topics = await private_topics(run)
    specs = TopicRegistry(tuple(vars(topics).values())).broker_topics()
    await ensure_topics(KAFKA, specs)
    database = run.replace("-", "_")
    admin = await asyncpg.connect(DATABASE)
    await admin.execute(f'CREATE DATABASE "{database}"')
    dsn = database_named(database)
    kek = KeyEncryptionKeys.generate_spec("bench")
    try:
        await upgrade_async(KEY_MIGRATIONS, dsn, KEY_SCHEMA)
        values = await sealed_backlog(dsn, kek)
        await fill(topics.received.name, values)
        settings = TriageSettings(
            database_url=dsn,  # type: ignore[arg-type]
            kafka_bootstrap=KAFKA,
            key_encryption_keys=kek,  # type: ignore[arg-type]
            jwks_file=jwks,
            log_level=LOG_LEVEL,
            consume_batch_size=batch,
            acute_lane=lane,
        )
        _, app = build(settings, topics=topics, watch_deadlines=False)
        async with serving(app):
            conn = await asyncpg.connect(dsn)
            try:
                deadline = time.monotonic() + 900
                count = "SELECT count(*) FROM triage.cases"
                while not await conn.fetchval(count):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}: nothing decided after 900 s")
                    await asyncio.sleep(0.05)
                cpu = (own_cpu(), postgres_cpu())
                while await conn.fetchval(count) < len(values):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}: not done after 900 s")
                    await asyncio.sleep(0.1)
                spent = (own_cpu() - cpu[0], postgres_cpu() - cpu[1])
                row = await conn.fetchrow(
                    "SELECT extract(epoch FROM max(decided_at) - min(decided_at)) AS seconds,"
                    " min(decided_at) AS first_at,"
                    " max(decided_at) FILTER (WHERE route = 'acuut') AS last_acute_at"
                    " FROM triage.decisions WHERE decision = 1"
                )
                assert row is not None
                before = await conn.fetchval(
                    "SELECT count(*) FROM triage.decisions"
                    " WHERE decision = 1 AND route <> 'acuut' AND decided_at < $1",
                    row["last_acute_at"],
                )
            finally:
                await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        await delete_topics(KAFKA, [s.name for s in specs])
    decided = len(values)
    return {
        "variant": name,
        "signals": decided,
        "per_second": round(decided / float(row["seconds"]), 1),
        "cpu_ms_per_signal_service": round(spent[0] * 1000 / decided, 2),
        "cpu_ms_per_signal_postgres": round(spent[1] * 1000 / decided, 2),
        "backlog_decided_before_last_acute": before,
        "last_acute_after_first_decision_s": round(
            (row["last_acute_at"] - row["first_at"]).total_seconds(), 2
        ),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Triage stage: a backlog worked off",
        "",
        f"{report['when']}, {report['machine']}; load average before/after: "
        f"{report['load_before']} / {report['load_after']}. {report['signals']} ordinary "
        f"signals and {ACUTE} acute texts at the end; batches of {report['batch']}; log level "
        f"{report['log_level']}. Raw consume→produce loop (batched) in the same run: "
        f"{report['raw_loop_per_second']:.0f} events/s.",
        "",
        "| variant | decided/s | of raw loop | CPU ms/signal (service) | CPU ms/signal "
        "(PostgreSQL) | backlog decided before the last acute one | last acute decided after (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["variants"]:
        lines.append(
            f"| {r['variant']} | {r['per_second']} | {r['of_raw_loop']:.1%} | "
            f"{r['cpu_ms_per_signal_service']} | {r['cpu_ms_per_signal_postgres']} | "
            f"{r['backlog_decided_before_last_acute']} of {report['signals']} | "
            f"{r['last_acute_after_first_decision_s']} |"
        )
    return "\n".join(lines) + "\n"


async def main() -> int:
    configure_logging("bench", LOG_LEVEL)
    load_before = [round(x, 2) for x in os.getloadavg()]
    jwks_dir = Path(tempfile.mkdtemp(prefix="bench-triage-"))
    generate_key_pair(jwks_dir)
    # the raw loop over the same number of events of the same size
    raw_topics = [f"bench-triage-raw-{uuid.uuid4().hex[:8]}.{n}.v1" for n in ("in", "out")]
    raw = replace(SIGNALS_RECEIVED, name=raw_topics[0], consumers=("none",))
    out = replace(SIGNALS_RECEIVED, name=raw_topics[1], consumers=("none",))
    raw_specs = TopicRegistry((raw, out)).broker_topics()
    await ensure_topics(KAFKA, raw_specs)
    try:
        sample = Envelope.new(
            SignalReceivedV1(
                signal_id=uuid.uuid4(),
                subject_id=uuid.uuid4(),
                channel=Channel.WEB_FORM,
                reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
                subject=Subject(),
                concern=Concern(text="pd1." + "x" * 120, cues=()),
                reported_urgency=ReportedUrgency.NORMAL,
                received_at=datetime.now(UTC),
            ),
            municipality="GM0715",
            producer="intake",
        )
        await fill(raw.name, [sample.model_dump_json().encode()] * (EVENTS + ACUTE))
        raw_rate = await raw_loop(raw.name, out.name, EVENTS + ACUTE)
    finally:
        await delete_topics(KAFKA, [s.name for s in raw_specs])
    print(f"raw loop: {raw_rate:.0f} events/s", flush=True)
    results = []
    for name, batch, lane in VARIANTS:
        result = await variant(name, batch, lane, jwks_dir / "jwks.json")
        result["of_raw_loop"] = result["per_second"] / raw_rate
        print(json.dumps(result), flush=True)
        results.append(result)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "signals": EVENTS,
        "batch": BATCH,
        "log_level": LOG_LEVEL,
        "raw_loop_per_second": raw_rate,
        "variants": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "triage_stage.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "triage_stage.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
