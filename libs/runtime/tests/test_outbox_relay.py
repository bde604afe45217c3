"""Several relay replicas: one publishes, the others stand by and take over when it goes."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import asyncpg
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from signaalpunt_contracts import PLATFORM_PROBE
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.outbox import OutboxMetrics, OutboxRelay, write_outbox
from signaalpunt_testkit.plugin import Infra, TopicFactory

from .apps.counter_app import MIGRATIONS, build
from .helpers import eventually, probe, running, scalar, settings_for


async def _stage(dsn: str, topic_name: str, sequences: range) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "standby"})
    try:
        topic = replace(PLATFORM_PROBE, name=topic_name)
        async with conn.transaction():
            for i in sequences:
                await write_outbox(conn, "standby", topic, probe("standby", i), key="standby")
    finally:
        await conn.close()


async def test_one_active_relay_and_failover(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "standby.v1", consumers=("downstream",))
    await upgrade_async(MIGRATIONS, database_url, "standby")
    settings = settings_for(database_url, infra.kafka_bootstrap, "standby")
    first = build(settings=settings, input_topic=None)
    second = build(settings=settings, input_topic=None)
    downstream = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "standby_down"),
        input_topic=topic,
        group="downstream",
    )
    unpublished = "SELECT count(*) FROM standby.outbox WHERE published_at IS NULL"
    async with running(downstream), running(first):
        async with running(second):
            await asyncio.sleep(1)
            assert first.relay is not None
            assert second.relay is not None
            assert [first.relay.active, second.relay.active].count(True) == 1
            await _stage(database_url, topic.name, range(0, 50))

            async def published() -> bool:
                return bool(await scalar(database_url, unpublished) == 0)

            await eventually(published, what="the first 50 to be published")
            active, standby = (first, second) if first.relay.active else (second, first)
            await active.stop_relay()  # the active replica goes away
            assert standby.relay is not None

            async def took_over() -> bool:
                return bool(standby.relay and standby.relay.active)

            await eventually(took_over, timeout=15, what="the standby relay to take over")
            await _stage(database_url, topic.name, range(50, 100))
            await eventually(published, what="the next 50 to be published by the new relay")
        count = "SELECT count(*) FROM standby_down.effects"

        async def all_arrived() -> bool:
            return bool(await scalar(database_url, count) == 100)

        await eventually(all_arrived, what="all 100 downstream")
    assert (
        await scalar(database_url, "SELECT count(DISTINCT sequence) FROM standby_down.effects")
        == 100
    )


def _gauge(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


async def test_the_backlog_and_its_oldest_age_show_while_kafka_is_unreachable(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    """An operator sees events waiting in the outbox (how many, since when) while the relay
    cannot publish, and sees them go once it can."""
    topic = await kafka_topics.private(PLATFORM_PROBE, "backlog.v1", consumers=("downstream",))
    await upgrade_async(MIGRATIONS, database_url, "standby")
    await _stage(database_url, topic.name, range(0, 7))
    tracer = trace.get_tracer("test")

    def relay(bootstrap: str, registry: CollectorRegistry) -> OutboxRelay:
        return OutboxRelay(
            dsn=database_url,
            schema="standby",
            bootstrap=bootstrap,
            client_id="backlog-test",
            tracer=tracer,
            metrics=OutboxMetrics(registry),
            poll_interval=0.1,
        )

    with socket.socket() as closed:  # a port nobody listens on: Kafka unreachable
        closed.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{closed.getsockname()[1]}"
    down_registry = CollectorRegistry()
    stuck = relay(nowhere, down_registry)
    stuck.start()
    try:

        async def waiting_shown() -> bool:
            age = _gauge(down_registry, "signaalpunt_outbox_oldest_unpublished_age_seconds")
            backlog = _gauge(down_registry, "signaalpunt_outbox_backlog")
            return backlog is not None and backlog >= 7 and age is not None and age > 1

        await eventually(waiting_shown, timeout=60, what="the backlog of 7 and its age")
    finally:
        await stuck.stop()

    up_registry = CollectorRegistry()
    working = relay(infra.kafka_bootstrap, up_registry)
    working.start()
    try:

        async def drained() -> bool:
            unpublished = await scalar(
                database_url, "SELECT count(*) FROM standby.outbox WHERE published_at IS NULL"
            )
            return (
                unpublished == 0
                and _gauge(up_registry, "signaalpunt_outbox_backlog") == 0
                and _gauge(up_registry, "signaalpunt_outbox_oldest_unpublished_age_seconds") == 0
            )

        await eventually(drained, timeout=60, what="the 7 published and the backlog shown empty")
    finally:
        await working.stop()
