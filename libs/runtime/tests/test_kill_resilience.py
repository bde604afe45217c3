"""kill -9, repeatedly: nothing is lost and every effect happens exactly once.

The counter app runs as a separate process and is killed with SIGKILL at random moments while
events flow (no shutdown hook runs, no offset is committed on the way out, transactions in flight
are aborted by PostgreSQL).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from signaalpunt_contracts import PLATFORM_PROBE
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.outbox import write_outbox
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.processes import KillableProcess

from .apps.counter_app import MIGRATIONS, build
from .helpers import (
    eventually,
    probe,
    producer,
    running,
    scalar,
    settings_for,
    while_progressing,
)

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "apps" / "counter_app.py"
EVENTS = 10_000


def KillableApp(  # noqa: N802 - reads as the thing it makes
    infra: Infra, database_url: str, log_dir: Path, **env: str
) -> KillableProcess:
    """The counter app (tests/apps/counter_app.py) on the test's infrastructure."""
    return KillableProcess(
        APP,
        {
            "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "SIGNAALPUNT_DATABASE_URL": database_url,
            "SIGNAALPUNT_SERVICE_LOG_LEVEL": "INFO",
            **env,
        },
        log_dir,
    )


async def _count(dsn: str, query: str) -> int:
    return int(await scalar(dsn, query))


async def test_consumer_killed_repeatedly_while_10000_events_flow(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "kill-consumer.v1", consumers=("counter",))
    app = KillableApp(
        infra,
        database_url,
        tmp_path,
        COUNTER_INPUT_TOPIC=topic.name,
        COUNTER_SCHEMA="killed",
        COUNTER_SERVICE="killed",
        # as a StatefulSet pod: the restarted process takes its partitions back without waiting
        # for the killed member's session to time out
        SIGNAALPUNT_SERVICE_STATIC_MEMBERSHIP="true",
        SIGNAALPUNT_SERVICE_INSTANCE="counter-0",
    )
    events = [probe(f"run-{i % 17}", i) for i in range(EVENTS)]

    async def publish_all() -> None:
        async with producer(infra.kafka_bootstrap) as p:
            for start in range(0, EVENTS, 500):
                futures = [
                    await p.send(
                        topic.name, e.model_dump_json().encode(), key=e.data.run_id.encode()
                    )
                    for e in events[start : start + 500]
                ]
                await asyncio.gather(*futures)
                await asyncio.sleep(0.1)  # keep events flowing while the consumer is being killed

    publishing = asyncio.create_task(publish_all())
    rng = random.Random(20261123)
    kills_mid_stream = 0
    effects = "SELECT count(*) FROM killed.effects"

    async def handled() -> int:
        return await _count(database_url, effects) if await _schema_exists(database_url) else 0

    try:
        for _ in range(8):
            before = await handled()
            if before >= EVENTS:
                break
            app.start()
            # kill while it is working: first let it handle something (however slowly a busy
            # machine starts it), then give it a random moment more
            await eventually(
                functools.partial(_progressed, handled, before), timeout=120, what="events handled"
            )
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            if await handled() >= EVENTS:
                break
            app.kill()
            kills_mid_stream += 1
        else:
            app.start()
        await publishing
        await while_progressing(lambda: _counted(database_url, effects), EVENTS, what="all")
        await asyncio.sleep(2)  # anything extra (a double effect) would show up now
    finally:
        app.stop()
    assert kills_mid_stream >= 3, "the test must kill the consumer while events are in flight"
    assert await _count(database_url, effects) == EVENTS
    assert (
        await _count(database_url, "SELECT count(DISTINCT event_id) FROM killed.effects") == EVENTS
    )
    assert await _count(database_url, "SELECT handled FROM killed.totals") == EVENTS
    # events handled before a kill but not yet committed came back, and the inbox absorbed them
    redelivered = sum(
        log.read_text().count("duplicate event ignored") for log in tmp_path.glob("run-*.log")
    )
    assert redelivered > 0, "the kills must have caused redeliveries for this test to mean much"
    print(
        f"killed the consumer {kills_mid_stream} times mid-stream; {redelivered} redelivered "
        f"events ignored by the inbox; {EVENTS} effects exactly once"
    )


async def _schema_exists(dsn: str) -> bool:
    return bool(await scalar(dsn, "SELECT to_regclass('killed.effects') IS NOT NULL"))


async def _progressed(handled: Callable[[], Awaitable[int]], before: int) -> bool:
    return await handled() > before


async def _counted(dsn: str, query: str) -> int:
    try:
        return await _count(dsn, query)
    except asyncpg.UndefinedTableError:
        return 0  # on a busy machine the last start may not have migrated yet


async def test_outbox_relay_killed_mid_batch_publishes_every_row_once_downstream(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> None:
    output = await kafka_topics.private(PLATFORM_PROBE, "kill-relay.v1", consumers=("downstream",))
    await upgrade_async(MIGRATIONS, database_url, "relay")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "relay"})
    try:
        for start in range(0, EVENTS, 1000):
            async with conn.transaction():
                for i in range(start, start + 1000):
                    event = probe(f"key-{i % 20}", i)
                    await write_outbox(conn, "relay", output, event, key=event.data.run_id)
    finally:
        await conn.close()

    relay = KillableApp(
        infra,
        database_url,
        tmp_path,
        COUNTER_SCHEMA="relay",
        COUNTER_SERVICE="relay",
        SIGNAALPUNT_SERVICE_OUTBOX_BATCH_SIZE="100",
    )
    unpublished = "SELECT count(*) FROM relay.outbox WHERE published_at IS NULL"
    rng = random.Random(7)
    kills_mid_batch = 0
    try:
        while kills_mid_batch < 8:
            pending = await _count(database_url, unpublished)
            if pending == 0:
                break
            relay.start()
            # wait until this relay is publishing, then kill it a moment later: mid-batch
            await eventually(
                lambda pending=pending: _below(database_url, unpublished, pending),  # type: ignore[misc]
                timeout=60,
                what="the relay to start publishing",
            )
            await asyncio.sleep(rng.uniform(0.02, 0.25))
            relay.kill()
            kills_mid_batch += 1
        relay.start()
        published = "SELECT count(*) FROM relay.outbox WHERE published_at IS NOT NULL"
        await while_progressing(lambda: _counted(database_url, published), EVENTS, what="relay")
    finally:
        relay.stop()
    assert kills_mid_batch >= 2, "the relay must be killed while it was publishing"
    assert await _count(database_url, unpublished) == 0

    downstream = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "downstream"),
        input_topic=output,
        group="downstream",
    )
    async with running(downstream):
        await while_progressing(
            lambda: _counted(database_url, "SELECT count(*) FROM downstream.effects"),
            EVENTS,
            what="downstream effects",
        )
        await asyncio.sleep(2)
    assert await _count(database_url, "SELECT count(*) FROM downstream.effects") == EVENTS
    assert (
        await _count(database_url, "SELECT count(DISTINCT event_id) FROM downstream.effects")
        == EVENTS
    )
    out_of_order = await _count(
        database_url,
        """SELECT count(*) FROM (
               SELECT sequence < lag(sequence) OVER (PARTITION BY run_id ORDER BY id) AS back
               FROM downstream.effects) s WHERE back""",
    )
    assert out_of_order == 0, "each key's events must arrive in the order they were written"
    duplicates = sum(
        sample.value
        for family in downstream.metrics.collect()
        for sample in family.samples
        if sample.name == "signaalpunt_events_handled_total"
        and sample.labels.get("outcome") == "duplicate"
    )
    print(
        f"killed the relay {kills_mid_batch} times mid-batch; {duplicates:.0f} events published "
        f"twice and ignored downstream; {EVENTS} effects once, in order"
    )


async def _below(dsn: str, query: str, value: int) -> bool:
    return await _count(dsn, query) < value
