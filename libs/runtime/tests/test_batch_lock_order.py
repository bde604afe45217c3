"""Two batch stages that lock a row per key never deadlock each other (issue 22).

Notifications' planners lock a signal's facts, metrics' consumers its counts: one stage per
topic, each taking batches. When two stages' batches held the same keys in different orders, each
took its first lock and waited for the other's: PostgreSQL broke the deadlock after a second and
the loser's whole batch was handled again one event at a time (seen in the end-to-end benchmark:
dozens of deadlocks per drain). A batch is now handled in key order, so every stage takes its
locks in the same order."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_testkit.plugin import Infra, TopicFactory

from .apps.counter_app import MIGRATIONS
from .helpers import eventually, probe, producer, running, scalar, settings_for

SCHEMA = "lockorder"
BOTH_HOLD_A_LOCK = 5.0
"""How long a stage that holds its first lock waits for the other stage to hold one too: long
enough for both to be there (then the old order deadlocked every time), and with the fixed order
it simply runs out (the other stage waits for the lock this one holds)."""


async def test_stages_whose_batches_share_keys_in_different_orders_do_not_deadlock(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    one_partition = replace(PLATFORM_PROBE, partitions=1)
    first = await kafka_topics.private(one_partition, f"{SCHEMA}.first.v1", consumers=("counter",))
    second = await kafka_topics.private(
        one_partition, f"{SCHEMA}.second.v1", consumers=("counter",)
    )
    settings = settings_for(database_url, infra.kafka_bootstrap, SCHEMA)
    service = Service(settings, title="Lock order (test app)", migrations=MIGRATIONS)
    holding = {first.name: asyncio.Event(), second.name: asyncio.Event()}

    def stage(topic: str, other: str) -> None:
        source = first if topic == first.name else second

        @service.consumer(source, group="counter", batch_size=10)
        async def lock_and_count(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
            # a row lock per key, as a signal's facts are locked
            await work.connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", event.data.run_id
            )
            if not holding[topic].is_set():
                holding[topic].set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(holding[other].wait(), BOTH_HOLD_A_LOCK)
            await work.connection.execute(
                "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
                event.event_id,
                event.data.run_id,
                event.data.sequence,
            )

    stage(first.name, second.name)
    stage(second.name, first.name)

    # waiting before the service starts, so each stage takes its two events as one batch: the
    # first topic has alpha then beta, the second beta then alpha
    async with producer(infra.kafka_bootstrap) as p:
        for topic, keys in ((first, ("alpha", "beta")), (second, ("beta", "alpha"))):
            for sequence, key in enumerate(keys):
                value = probe(key, sequence).model_dump_json().encode()
                await p.send_and_wait(topic.name, value=value, key=key.encode(), partition=0)

    async with running(service):
        await eventually(lambda: _effects_at_least(database_url, 4), what="all four events handled")
    assert await scalar(database_url, f"SELECT count(*) FROM {SCHEMA}.effects") == 4
    # each stage's batch committed whole, in one transaction; after a deadlock the losing
    # batch's events were committed one by one (three transactions instead of two)
    transactions = await scalar(
        database_url, f"SELECT count(DISTINCT xmin::text) FROM {SCHEMA}.effects"
    )
    assert transactions == 2


async def _effects_at_least(dsn: str, want: int) -> bool:
    return bool(await scalar(dsn, f"SELECT count(*) FROM {SCHEMA}.effects") >= want)
