"""Failure classes on the real Kafka and PostgreSQL (issue 14: defects 1-3, 5; issue 16: defect 1).

- a dependency that is down (a real PostgreSQL outage, far longer than the retry budget) parks
  nothing: the stage pauses, probes, and resumes by itself; every event has its effect once;
- many different events failing the same unknown way is systemic: the stage pauses instead of
  parking them all, and resumes by itself, exactly where it stopped, once the cause is gone;
- the message's own fault (a refused event) is parked at once, never counts towards pausing, and
  is committed: a restart does not park it again;
- the sender's rejection is written through the outbox in the dead letter's own transaction,
  so an outage delays it but never loses it;
- while the database is down the stage logs its state changes, not every attempt;
- a service started while the database or the broker is down waits and starts when it returns.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1, Topic
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_runtime.dead_letters import list_dead_letters
from signaalpunt_runtime.topic_admin import topic_partitions
from signaalpunt_testkit.logs import collected_logs
from signaalpunt_testkit.outages import kafka_down, postgres_down
from signaalpunt_testkit.plugin import Infra, TopicFactory, committed_offsets

from .apps.counter_app import build
from .helpers import eventually, probe, producer, running, scalar, send, settings_for

pytestmark = pytest.mark.slow

BATCH_MODES = pytest.mark.parametrize("batch_size", [None, 50], ids=["one-by-one", "batches"])


def paused(service: Service, topic: Topic, group: str, reason: str) -> float:
    value = service.metrics.get_sample_value(
        "signaalpunt_consumer_paused", {"topic": topic.name, "group": group, "reason": reason}
    )
    return value or 0.0


async def count(dsn: str, query: str) -> int:
    return int(await scalar(dsn, query))


async def _sequences(dsn: str, schema: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT sequence FROM {schema}.effects ORDER BY sequence")
    finally:
        await conn.close()
    return [r["sequence"] for r in rows]


@BATCH_MODES
async def test_a_database_outage_longer_than_the_retry_budget_parks_nothing(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, batch_size: int | None
) -> None:
    schema = f"outage{batch_size or ''}"
    topic = await kafka_topics.private(PLATFORM_PROBE, f"{schema}.v1", consumers=("counter",))
    service = build(
        # the old halt (3 dead letters in a row) would have stopped the stage for good
        settings=settings_for(
            database_url,
            infra.kafka_bootstrap,
            schema,
            max_consecutive_dead_letters=3,
            systemic_failures=3,
        ),
        input_topic=topic,
        batch_size=batch_size,
    )
    async with running(service), producer(infra.kafka_bootstrap) as p:
        for i in range(3):
            await send(p, topic.name, probe(schema, i))
        await eventually(
            lambda: _at_least(database_url, f"SELECT count(*) FROM {schema}.effects", 3),
            what="effects before the outage",
        )
        with collected_logs(logging.WARNING) as lines:
            async with postgres_down():
                for i in range(3, 13):
                    await send(p, topic.name, probe(schema, i))
                # the retry budget in these settings is well under a second
                await eventually(
                    lambda: _true(paused(service, topic, "counter", "dependency") == 1),
                    what="the stage pauses while the database is down",
                    timeout=20,
                )
                await asyncio.sleep(5)
            await eventually(
                lambda: _at_least(database_url, f"SELECT count(*) FROM {schema}.effects", 13),
                what="every event handled after the database came back",
                timeout=60,
            )
        await eventually(
            lambda: _committed(infra.kafka_bootstrap, "counter", topic.name, 13),
            what="offsets committed",
        )
        assert paused(service, topic, "counter", "dependency") == 0, "resumed by itself"
        ok, checks = await service.health()
        assert ok, checks
    assert await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter")) == []
    assert await _sequences(database_url, schema) == list(range(13)), "each effect exactly once"
    # one line when it paused, one when it resumed, and a few from the outbox relay: not one
    # per attempt (the old stage wrote one warning per retry of every event)
    assert len(lines) <= 12, "\n".join(lines)


async def _at_least(dsn: str, query: str, want: int) -> bool:
    return await count(dsn, query) >= want


async def _committed(kafka: str, group: str, topic: str, want: int) -> bool:
    return await committed_offsets(kafka, group, topic) >= want


async def _true(value: bool) -> bool:
    return value


async def test_refused_events_in_a_batch_are_parked_once_committed_and_never_stop_the_stage(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    """Issue 16, defect 1: 25 refused events in one batch halted the partner consumer (20 in a
    row), rewound the whole batch, and a restart parked them again."""
    topic = await kafka_topics.private(PLATFORM_PROBE, "refused.v1", consumers=("counter",))
    settings = settings_for(
        database_url,
        infra.kafka_bootstrap,
        "refused",
        max_consecutive_dead_letters=3,
        systemic_failures=3,
    )
    async with producer(infra.kafka_bootstrap) as p:  # waiting in the topic: one batch
        for i in range(10):
            await send(p, topic.name, probe("refused", i, note="permanent"))
        for i in range(10, 15):
            await send(p, topic.name, probe("refused", i))
    for _restart in range(2):
        service = build(settings=settings, input_topic=topic, batch_size=50)
        async with running(service):
            await eventually(
                lambda: _at_least(database_url, "SELECT count(*) FROM refused.effects", 5),
                what="the valid events after the refused ones",
                timeout=30,
            )
            await eventually(
                lambda: _committed(infra.kafka_bootstrap, "counter", topic.name, 15),
                what="refused events committed",
                timeout=30,
            )
            ok, checks = await service.health()
            assert ok, checks
    letters = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert sorted(int(x.headers["dlq-original-offset"]) for x in letters) == list(range(10)), (
        "each refused event parked exactly once, also after a restart"
    )
    assert await _sequences(database_url, "refused") == list(range(10, 15))


async def _forget_commits(kafka: str, group: str, topic: str) -> None:
    """What a rebalance does to a replica whose offset commit did not land (or a kill before
    it): the group starts the topic again from the beginning."""
    assignment = [TopicPartition(topic, p) for p in await topic_partitions(kafka, topic)]
    consumer = make_reader(kafka, group=group)
    await consumer.start()
    try:
        consumer.assign(assignment)
        await consumer.commit(dict.fromkeys(assignment, 0))
    finally:
        await consumer.stop()


@BATCH_MODES
async def test_a_refused_event_delivered_again_is_not_parked_again(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, batch_size: int | None
) -> None:
    """Seen in CI (triage with two replicas): a rebalance redelivered a batch whose commit had
    not landed; its good events were ignored by the inbox, but its refused events were parked a
    second time, so the dead-letter topic (and whoever replays it) held each of them twice."""
    topic = await kafka_topics.private(
        PLATFORM_PROBE, f"redelivered{batch_size or ''}.v1", consumers=("counter",)
    )
    schema = f"redelivered{batch_size or ''}"
    settings = settings_for(database_url, infra.kafka_bootstrap, schema)
    async with producer(infra.kafka_bootstrap) as p:
        await send(p, topic.name, probe("redelivered", 0))
        await send(p, topic.name, b"{this is no event")  # undecodable: refused on arrival
        await send(p, topic.name, probe("redelivered", 2, note="permanent"))  # refused by it
        await send(p, topic.name, probe("redelivered", 3))
    for delivery in range(2):
        if delivery:
            await _forget_commits(infra.kafka_bootstrap, "counter", topic.name)
        service = build(settings=settings, input_topic=topic, batch_size=batch_size)
        async with running(service):
            await eventually(
                lambda: _committed(infra.kafka_bootstrap, "counter", topic.name, 4),
                what="every event handled or parked",
                timeout=30,
            )
    letters = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert sorted(int(x.headers["dlq-original-offset"]) for x in letters) == [1, 2], (
        "each refused event parked once, also when delivered again"
    )
    assert await _sequences(database_url, schema) == [0, 3]


async def test_a_systemic_failure_pauses_and_resumes_by_itself_where_it_stopped(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "systemic.v1", consumers=("counter",))
    settings = settings_for(
        database_url,
        infra.kafka_bootstrap,
        "systemic",
        retry_attempts=2,
        max_consecutive_dead_letters=3,
        systemic_failures=3,
        pause_max_delay=0.5,
    )
    service = build(settings=settings, input_topic=None)
    bug = {"present": True}

    @service.consumer(topic, group="counter")
    async def handle(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        if bug["present"]:
            raise RuntimeError("a bug in this release")
        await work.connection.execute(
            "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            "systemic",
            event.data.sequence,
        )

    dlq = topic.dead_letter_topic("counter")
    async with running(service), producer(infra.kafka_bootstrap) as p:
        for i in range(10):
            await send(p, topic.name, probe("systemic", i))
        await eventually(
            lambda: _true(paused(service, topic, "counter", "systemic") == 1),
            what="the stage pauses: every event fails the same way",
            timeout=30,
        )
        await asyncio.sleep(2)  # it keeps probing, and parks nothing more
        assert len(await list_dead_letters(infra.kafka_bootstrap, dlq)) == 2
        assert await committed_offsets(infra.kafka_bootstrap, "counter", topic.name) == 2
        ok, checks = await service.health()
        assert ok, "a paused stage is an alert, not a liveness failure"
        assert checks["paused_consumers"]

        bug["present"] = False  # the cause is gone (a fixed release, a config change)
        await eventually(
            lambda: _at_least(database_url, "SELECT count(*) FROM systemic.effects", 8),
            what="the stage resumes by itself",
            timeout=30,
        )
        await eventually(
            lambda: _committed(infra.kafka_bootstrap, "counter", topic.name, 10),
            what="everything committed",
        )
        assert paused(service, topic, "counter", "systemic") == 0
    assert len(await list_dead_letters(infra.kafka_bootstrap, dlq)) == 2
    assert await _sequences(database_url, "systemic") == list(range(2, 10))


async def test_the_senders_rejection_survives_a_database_outage(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "reject-in.v1", consumers=("counter",))
    rejections = await kafka_topics.private(PLATFORM_PROBE, "reject-out.v1")
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "rejecting"), input_topic=None
    )

    async def tell_sender(
        record: ConsumerRecord[bytes, bytes], error: BaseException, work: UnitOfWork | None = None
    ) -> None:
        rejection = ProbeV1(run_id="rejected", sequence=record.offset, note=type(error).__name__)
        if work is not None:
            await work.publish(
                rejections, work.new_event(rejection, municipality="GM0715"), key="sender"
            )
            return
        async with service.transaction() as own:  # the old hook had to open its own
            await own.publish(
                rejections, own.new_event(rejection, municipality="GM0715"), key="sender"
            )

    async def nothing(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        return None

    service.consumer(topic, group="counter", on_dead_letter=tell_sender)(nothing)
    async with running(service), producer(infra.kafka_bootstrap) as p:
        async with postgres_down():
            await send(p, topic.name, b"{this is no event")
            await asyncio.sleep(4)
        await eventually(
            lambda: _committed(infra.kafka_bootstrap, "counter", topic.name, 1),
            what="the refused event committed",
            timeout=60,
        )
        await eventually(
            lambda: _at_least(
                database_url,
                "SELECT count(*) FROM rejecting.outbox WHERE published_at IS NOT NULL",
                1,
            ),
            what="the rejection published",
            timeout=30,
        )
    told = await list_dead_letters(infra.kafka_bootstrap, rejections.name)
    assert [json.loads(x.value)["data"]["sequence"] for x in told] == [0]
    letters = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert len(letters) == 1


async def test_a_service_started_while_the_database_is_down_starts_when_it_returns(
    database_url: str, infra: Infra, kafka_topics: TopicFactory
) -> None:
    """Found by `make chaos`: a service SIGKILLed and started again during a PostgreSQL outage
    exited ("Application startup failed") instead of waiting, so nothing of it ran afterwards
    until someone started it by hand. It must wait, quietly, and start when the database does."""
    topic = await kafka_topics.private(PLATFORM_PROBE, "start-wait.v1", consumers=("counter",))
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "start_wait"),
        input_topic=topic,
    )
    with collected_logs(logging.WARNING) as lines:
        async with postgres_down():
            starting = asyncio.create_task(service.start_database())
            await asyncio.sleep(4)
            assert not starting.done() or starting.exception() is None, (
                f"the start gave up while the database was down: {starting.exception()!r}"
            )
        await asyncio.wait_for(starting, 60)
    try:
        async with service.transaction() as work:
            assert await work.connection.fetchval("SELECT 1") == 1
        waiting = [line for line in lines if "waiting for the database" in line]
        assert 1 <= len(waiting) <= 2, "one line when it starts waiting, not one per attempt"
    finally:
        await service.stop_database()


async def test_a_service_started_while_kafka_is_down_starts_when_it_returns(
    database_url: str, infra: Infra, kafka_topics: TopicFactory
) -> None:
    """Found for issue 14: a service (re)started while the broker was down failed its start
    ("Unable to bootstrap") and, its HTTP server still up, stayed unready and never consumed,
    until someone restarted it by hand. It must wait, quietly, and work when the broker does."""
    schema = "kafka_start_wait"
    topic = await kafka_topics.private(
        PLATFORM_PROBE, "kafka-start-wait.v1", consumers=("counter",)
    )
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, schema), input_topic=topic
    )
    with collected_logs(logging.WARNING) as lines:
        async with kafka_down():
            await service.start_database()
            starting = asyncio.create_task(service.broker.start())
            await asyncio.sleep(4)
            assert not starting.done() or starting.exception() is None, (
                f"the start gave up while the broker was down: {starting.exception()!r}"
            )
        await asyncio.wait_for(starting, 120)
    await service.start_relay()
    try:
        async with producer(infra.kafka_bootstrap) as p:
            for i in range(3):
                await send(p, topic.name, probe(schema, i))
        await eventually(
            lambda: _at_least(database_url, f"SELECT count(*) FROM {schema}.effects", 3),
            what="the service handles events once the broker is back",
            timeout=120,
        )
        ok, checks = await service.health()
        assert ok, checks
        waiting = [line for line in lines if "waiting for the broker" in line]
        assert 1 <= len(waiting) <= 2, "one line when it starts waiting, not one per attempt"
    finally:
        await service.stop_relay()
        await service.broker.stop()
        await service.stop_database()
    assert await _sequences(database_url, schema) == [0, 1, 2]
