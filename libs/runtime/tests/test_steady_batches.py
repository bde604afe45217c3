"""A steady stream comes in batches too, and the acute lane never waits for one (issue 22).

A batch consumer took whatever one fetch brought: under a backlog that is a batch, but a steady
stream of 10-20 signals a second arrived one event per fetch, so every event paid a transaction,
a commit and the framework's round (at 10/s a signal cost about seven times its drain cost in the
end-to-end benchmark). A batch consumer's fetch now waits for events to gather
(`batch_fetch_min_bytes`, at most `batch_fetch_max_wait_ms`); an `urgent` one takes each event
the moment it is there."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_testkit.plugin import Infra, TopicFactory

from .apps.counter_app import MIGRATIONS
from .helpers import eventually, probe, producer, running, scalar, settings_for

SCHEMA = "steady"
EVENTS = 20
SPACING = 0.1
"""Seconds between two events: 10 a second, a steady stream such as the pipeline's at 10/s."""


async def test_a_steady_stream_is_handled_in_batches_and_an_urgent_stage_takes_each_at_once(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    one_partition = replace(PLATFORM_PROBE, partitions=1)
    ordinary = await kafka_topics.private(
        one_partition, f"{SCHEMA}.ordinary.v1", consumers=("counter",)
    )
    urgent = await kafka_topics.private(
        one_partition, f"{SCHEMA}.urgent.v1", consumers=("counter",)
    )
    settings = settings_for(database_url, infra.kafka_bootstrap, SCHEMA)
    service = Service(settings, title="Steady batches (test app)", migrations=MIGRATIONS)

    async def count(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        await work.connection.execute(
            "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            event.data.run_id,
            event.data.sequence,
        )

    service.consumer(ordinary, group="counter", batch_size=50)(count)
    service.consumer(urgent, group="counter", batch_size=50, urgent=True)(count)

    async with running(service), producer(infra.kafka_bootstrap) as p:
        # both stages hold their partition before the stream starts
        for topic in (ordinary, urgent):
            value = probe(f"{topic.name}-ready", 0).model_dump_json().encode()
            await p.send_and_wait(topic.name, value=value, key=b"ready", partition=0)
        await eventually(
            lambda: _effects(database_url, [f"{t.name}-ready" for t in (ordinary, urgent)], 2),
            what="both stages ready",
        )

        for sequence in range(EVENTS):
            for topic in (ordinary, urgent):
                value = probe(topic.name, sequence).model_dump_json().encode()
                await p.send_and_wait(topic.name, value=value, key=b"steady", partition=0)
            await asyncio.sleep(SPACING)
        await eventually(
            lambda: _effects(database_url, [ordinary.name, urgent.name], 2 * EVENTS),
            what="every event handled",
        )

    batches = await _transactions(database_url, ordinary.name)
    at_once = await _transactions(database_url, urgent.name)
    # 2 s of events at 10 a second: the ordinary stage's fetches wait up to 0.5 s for events to
    # gather (about four batches; before, one transaction per event); the urgent stage handles
    # each as it comes (a few may share a fetch on a busy machine)
    assert batches <= EVENTS // 3, f"{batches} transactions for {EVENTS} events"
    assert at_once >= EVENTS * 2 // 3, f"the urgent stage waited: {at_once} transactions"


async def _effects(dsn: str, run_ids: list[str], want: int) -> bool:
    found = await scalar(
        dsn, f"SELECT count(*) FROM {SCHEMA}.effects WHERE run_id = ANY($1::text[])", run_ids
    )
    return bool(found >= want)


async def _transactions(dsn: str, run_id: str) -> int:
    return int(
        await scalar(
            dsn,
            f"SELECT count(DISTINCT xmin::text) FROM {SCHEMA}.effects WHERE run_id = $1",
            run_id,
        )
    )
