"""`make bench`: events/s of one spine stage against a raw aiokafka consume→produce loop.

All four variants run in the same process against the same local broker and database:

- raw loop, one by one: `getone` → `send_and_wait` → commit handled offsets every 500 events;
- raw loop, batched: `getmany(500)` → send all → wait for all → commit;
- spine stage, one by one: consume → DB transaction (inbox row + one state row + outbox row)
  → relay publishes (acks=all, idempotent) → marked published;
- spine stage, batched: the same with `batch_size=500` (one transaction per batch).

The stage is timed from its first outbox row to its last published row (PostgreSQL timestamps),
the raw loop from its first received message to its last acknowledged send: start-up and group
joins are not counted in either. Results go to bench/results/pipeline_stage.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1, Topic, TopicRegistry
from signaalpunt_runtime import Service, ServiceSettings, UnitOfWork
from signaalpunt_runtime.broker_factory import client_options
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MIGRATIONS = REPO / "libs" / "runtime" / "tests" / "apps" / "migrations"
KAFKA = os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
BATCH = 500
PARTITIONS = 3


def topic(name: str, *consumers: str) -> Topic:
    return replace(PLATFORM_PROBE, name=name, consumers=consumers, partitions=PARTITIONS)


async def fill(name: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, **client_options()
    )
    await producer.start()
    try:
        for start in range(0, EVENTS, 1000):
            futures = []
            for i in range(start, min(start + 1000, EVENTS)):
                event = Envelope.new(
                    ProbeV1(run_id=f"run-{i % 50}", sequence=i),
                    municipality="GM0715",
                    producer="bench",
                )
                futures.append(
                    await producer.send(
                        name, event.model_dump_json().encode(), key=event.data.run_id.encode()
                    )
                )
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_loop(source: str, target: str, *, batched: bool) -> float:
    """The baseline: no database, no inbox, no outbox; the same commit discipline."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=KAFKA,
        group_id=f"raw-{batched}-{time.time_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, **client_options()
    )
    await consumer.start()
    await producer.start()
    done = 0
    started: float | None = None
    offsets: dict[TopicPartition, int] = {}
    try:
        while done < EVENTS:
            if batched:
                batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
                started = started or time.perf_counter()
                futures = []
                for tp, records in batch.items():
                    for record in records:
                        futures.append(await producer.send(target, record.value, key=record.key))
                    offsets[tp] = records[-1].offset + 1
                await asyncio.gather(*futures)
                done += len(futures)
                await consumer.commit(offsets)
            else:
                record = await consumer.getone()
                started = started or time.perf_counter()
                await producer.send_and_wait(target, record.value, key=record.key)
                offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
                done += 1
                if done % BATCH == 0 or done == EVENTS:
                    await consumer.commit(offsets)
        assert started is not None
        return EVENTS / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def spine_stage(source: Topic, target: Topic, schema: str, *, batched: bool) -> float:
    settings = ServiceSettings(
        service_name=schema.replace("_", "-"),
        database_schema=schema,
        database_url=DATABASE,  # type: ignore[arg-type]
        kafka_bootstrap=KAFKA,
        log_level="WARNING",
        outbox_batch_size=BATCH,
        database_pool_size=4,
    )
    service = Service(settings, title="bench stage", migrations=MIGRATIONS)

    group = "bench-batch" if batched else "bench-one"  # each stage reads the input from the start

    @service.consumer(source, group=group, batch_size=BATCH if batched else None)
    async def forward(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        await work.connection.execute(
            "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            event.data.run_id,
            event.data.sequence,
        )
        await work.publish(target, work.new_event(event.data), key=event.data.run_id)

    await service.start_database()
    await service.broker.start()
    await service.start_relay()
    conn = await asyncpg.connect(DATABASE)
    try:
        deadline = time.monotonic() + 600
        while (
            await conn.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NOT NULL"  # noqa: S608
            )
            < EVENTS
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{schema}: not done after 600 s")
            await asyncio.sleep(0.2)
        seconds = await conn.fetchval(
            f"SELECT extract(epoch FROM max(published_at) - min(created_at)) FROM {schema}.outbox"  # noqa: S608
        )
    finally:
        await conn.close()
        await service.stop_relay()
        await service.broker.stop()
        await service.stop_database()
    return EVENTS / float(seconds)


async def main() -> int:
    configure_logging("bench", "WARNING")
    run = f"bench-{int(time.time())}"
    source = topic(f"{run}.input.v1", "bench-one", "bench-batch")
    outputs = {v: topic(f"{run}.{v}.v1", "none") for v in ("raw1", "rawb", "stage1", "stageb")}
    specs = [*TopicRegistry((source,)).broker_topics()]
    specs += [s for t in outputs.values() for s in TopicRegistry((t,)).broker_topics()]
    await ensure_topics(KAFKA, specs)
    schemas = [f"bench_{int(time.time())}_one", f"bench_{int(time.time())}_batch"]
    try:
        print(f"filling {source.name} with {EVENTS} events …", flush=True)
        await fill(source.name)
        results = {
            "raw loop, one by one": await raw_loop(
                source.name, outputs["raw1"].name, batched=False
            ),
            "raw loop, batched": await raw_loop(source.name, outputs["rawb"].name, batched=True),
            "spine stage, one by one": await spine_stage(
                source, outputs["stage1"], schemas[0], batched=False
            ),
            "spine stage, batched": await spine_stage(
                source, outputs["stageb"], schemas[1], batched=True
            ),
        }
    finally:
        await delete_topics(KAFKA, [s.name for s in specs])
        conn = await asyncpg.connect(DATABASE)
        for schema in schemas:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()

    ratio_one = results["spine stage, one by one"] / results["raw loop, one by one"]
    ratio_batch = results["spine stage, batched"] / results["raw loop, batched"]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": EVENTS,
        "batch": BATCH,
        "partitions": PARTITIONS,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "events_per_second": {k: round(v, 1) for k, v in results.items()},
        "ratio_one_by_one": round(ratio_one, 3),
        "ratio_batched": round(ratio_batch, 3),
        "goal": "stage ≥ 25% of the raw loop",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline_stage.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Pipeline stage benchmark",
        "",
        f"{report['when']} · {EVENTS} events · batches of {BATCH} · {PARTITIONS} partitions · "
        f"{report['machine']}",
        "",
        "| variant | events/s |",
        "|---|---:|",
        *[f"| {k} | {v:,.0f} |" for k, v in results.items()],
        "",
        f"Stage / raw loop: one by one **{ratio_one:.0%}**, batched **{ratio_batch:.0%}** "
        "(goal for later tuning: ≥ 25%).",
        "",
    ]
    (RESULTS / "pipeline_stage.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
