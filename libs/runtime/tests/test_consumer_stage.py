"""The consumer stage on the real Kafka and PostgreSQL: inbox, retries, dead letters, pausing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.dead_letters import list_dead_letters, replay
from signaalpunt_testkit.plugin import Infra, TopicFactory, committed_offsets

from .apps.counter_app import build
from .helpers import eventually, probe, producer, running, scalar, send, settings_for

BATCH_MODES = pytest.mark.parametrize("batch_size", [None, 50], ids=["one-by-one", "batches"])


@BATCH_MODES
async def test_each_event_has_one_effect_even_when_delivered_twice(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, batch_size: int | None
) -> None:
    schema = f"dedupe{batch_size or ''}"
    topic = await kafka_topics.private(PLATFORM_PROBE, f"{schema}.v1", consumers=("counter",))
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, schema),
        input_topic=topic,
        batch_size=batch_size,
    )
    events = [probe("dedupe", i) for i in range(20)]
    async with running(service), producer(infra.kafka_bootstrap) as p:
        for event in events:
            await send(p, topic.name, event)
        for event in events[:5]:  # the same events again, as after a rebalance or a replay
            await send(p, topic.name, event)
        await eventually(
            lambda: _at(database_url, f"SELECT count(*) FROM {schema}.inbox", 20), what="inbox"
        )
        await eventually(
            lambda: _committed_at_least(infra.kafka_bootstrap, "counter", topic.name, 25),
            what="offsets committed",
        )
    assert await scalar(database_url, f"SELECT count(*) FROM {schema}.effects") == 20
    assert (
        await scalar(database_url, f"SELECT count(DISTINCT event_id) FROM {schema}.effects") == 20
    )
    assert await scalar(database_url, f"SELECT handled FROM {schema}.totals") == 20


async def _at(dsn: str, query: str, want: int) -> bool:
    return bool(await scalar(dsn, query) >= want)


async def _committed_at_least(kafka: str, group: str, topic: str, want: int) -> bool:
    return await committed_offsets(kafka, group, topic) >= want


@BATCH_MODES
async def test_poison_message_goes_to_dead_letters_and_the_rest_flows(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, batch_size: int | None
) -> None:
    schema = f"poison{batch_size or ''}"
    topic = await kafka_topics.private(PLATFORM_PROBE, f"{schema}.v1", consumers=("counter",))
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, schema),
        input_topic=topic,
        batch_size=batch_size,
    )
    wrong_municipality = probe("poison", 2).model_dump(mode="json") | {"municipality": "Terneuzen"}
    async with running(service), producer(infra.kafka_bootstrap) as p:
        await send(p, topic.name, probe("poison", 1))
        await send(p, topic.name, b"{not json at all")
        await send(p, topic.name, json.dumps(wrong_municipality).encode())
        await send(p, topic.name, probe("poison", 3, note="permanent"))
        for i in range(4, 10):
            await send(p, topic.name, probe("poison", i))
        await eventually(
            lambda: _at(database_url, f"SELECT count(*) FROM {schema}.effects", 7), what="effects"
        )
        await eventually(
            lambda: _committed_at_least(infra.kafka_bootstrap, "counter", topic.name, 10),
            what="offsets committed past the poison",
        )

    letters = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert [letter.value for letter in letters][:1] == [b"{not json at all"]
    assert len(letters) == 3
    bad_json, bad_field, permanent = letters
    assert bad_json.headers["dlq-error-class"] == "pydantic_core._pydantic_core.ValidationError"
    assert bad_json.headers["dlq-attempts"] == "1"
    assert bad_json.headers["dlq-original-topic"] == topic.name
    assert bad_json.headers["dlq-original-offset"] == "1"
    assert bad_json.headers["dlq-consumer-group"] == "counter"
    assert bad_json.headers["dlq-service"] == schema
    assert "dlq-failed-at" in bad_json.headers
    assert "municipality" in bad_field.headers["dlq-error-message"]
    assert "Terneuzen" not in bad_field.headers["dlq-error-message"], "input must not leak"
    assert permanent.headers["dlq-error-class"].endswith("PermanentError")
    assert permanent.headers["dlq-attempts"] == "1"
    sequences = await _sequences(database_url, schema)
    assert sequences == [1, 4, 5, 6, 7, 8, 9]


async def test_a_list_handler_gets_each_batch_whole_and_a_refused_event_alone(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    schema = "lists"
    topic = await kafka_topics.private(PLATFORM_PROBE, f"{schema}.v1", consumers=("counter",))
    lists_seen: list[int] = []
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, schema),
        input_topic=topic,
        batch_size=50,
        lists_seen=lists_seen,
    )
    async with producer(infra.kafka_bootstrap) as p:  # waiting in the topic: one batch
        for i in range(30):
            await send(p, topic.name, probe("lists", i, note="permanent" if i == 10 else None))
    async with running(service):
        await eventually(
            lambda: _at(database_url, f"SELECT count(*) FROM {schema}.effects", 29), what="effects"
        )
        await eventually(
            lambda: _committed_at_least(infra.kafka_bootstrap, "counter", topic.name, 30),
            what="offsets committed past the refused event",
        )
    assert await _sequences(database_url, schema) == [i for i in range(30) if i != 10]
    letters = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert [letter.headers["dlq-original-offset"] for letter in letters] == ["10"]
    # the events came as lists; the batch with the refused event was rolled back and then
    # handled one event at a time
    assert max(lists_seen) > 1
    assert 1 in lists_seen


async def _sequences(dsn: str, schema: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT sequence FROM {schema}.effects ORDER BY id")
    finally:
        await conn.close()
    return [r["sequence"] for r in rows]


async def test_transient_errors_are_retried_and_unknown_ones_dead_lettered(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "retry.v1", consumers=("flaky",))
    settings = settings_for(database_url, infra.kafka_bootstrap, "retry", retry_attempts=4)
    service = build(settings=settings, input_topic=None)
    calls: dict[int, int] = {}

    @service.consumer(topic, group="flaky")
    async def flaky(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        seq = event.data.sequence
        calls[seq] = calls.get(seq, 0) + 1
        await work.connection.execute(
            "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            "retry",
            seq,
        )
        # sequence 1 fails twice and then works; sequence 2 never works (a bug, not an outage)
        if seq == 1 and calls[seq] <= 2:
            raise ConnectionResetError("database connection dropped")
        if seq == 2:
            raise KeyError("no such rule")

    async with running(service), producer(infra.kafka_bootstrap) as p:
        for i in (1, 2, 3):
            await send(p, topic.name, probe("retry", i))
        await eventually(
            lambda: _committed_at_least(infra.kafka_bootstrap, "flaky", topic.name, 3),
            what="all three committed",
        )
    assert calls == {1: 3, 2: 4, 3: 1}
    # failed attempts rolled back with their transaction: one effect per handled event
    assert await _sequences(database_url, "retry") == [1, 3]
    (letter,) = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("flaky"))
    assert letter.headers["dlq-attempts"] == "4"
    assert letter.headers["dlq-error-class"] == "builtins.KeyError"


async def test_a_bad_release_pauses_and_a_fixed_one_resumes_where_it_stopped(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "halt.v1", consumers=("counter",))
    settings = settings_for(
        database_url, infra.kafka_bootstrap, "halt", retry_attempts=1, systemic_failures=3
    )
    broken = build(settings=settings, input_topic=topic, mode="broken")
    async with producer(infra.kafka_bootstrap) as p:
        for i in range(8):
            await send(p, topic.name, probe("halt", i))
    async with running(broken):
        stage = broken.stages[0]
        await eventually(_true_when(lambda: stage.paused is not None), what="pause", timeout=30)
        ok, checks = await broken.health()
        assert ok, "paused is an alert, not a liveness failure"
        (state,) = checks["paused_consumers"].values()
        assert state["reason"] == "systemic"
        assert state["error"] == "builtins.RuntimeError"
    dlq = topic.dead_letter_topic("counter")
    assert len(await list_dead_letters(infra.kafka_bootstrap, dlq)) == 2
    assert await committed_offsets(infra.kafka_bootstrap, "counter", topic.name) == 2, (
        "the offset must stay at the first event that was not dead-lettered"
    )

    fixed = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "halt"), input_topic=topic
    )
    async with running(fixed):
        await eventually(
            lambda: _at(database_url, "SELECT count(*) FROM halt.effects", 6), what="rest handled"
        )
        replayed = await replay(infra.kafka_bootstrap, dlq)
        assert [json.loads(r.value)["data"]["sequence"] for r in replayed] == [0, 1]
        await eventually(
            lambda: _at(database_url, "SELECT count(*) FROM halt.effects", 8), what="replayed"
        )
        assert await replay(infra.kafka_bootstrap, dlq) == [], "each dead letter is replayed once"
    assert sorted(await _sequences(database_url, "halt")) == list(range(8))


def _true_when(predicate: Any) -> Any:
    async def check() -> bool:
        return bool(predicate())

    return check


async def test_when_even_the_dead_letter_publish_fails_the_event_comes_back(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "dlq-down.v1", consumers=("counter",))
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "dlqdown"), input_topic=topic
    )
    real_publish = service.broker.publish
    refused: list[str] = []

    async def publish_failing_once(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("topic", "").endswith(".dlq.counter") and not refused:
            refused.append(kwargs["topic"])
            raise ConnectionError("Kafka unreachable")
        return await real_publish(*args, **kwargs)

    service.broker.publish = publish_failing_once  # type: ignore[method-assign]
    async with running(service), producer(infra.kafka_bootstrap) as p:
        await send(p, topic.name, probe("down", 1, note="permanent"))
        await send(p, topic.name, probe("down", 2))
        await eventually(
            lambda: _at(database_url, "SELECT count(*) FROM dlqdown.effects", 1), what="effect"
        )
        await eventually(
            lambda: _committed_at_least(infra.kafka_bootstrap, "counter", topic.name, 2),
            what="both committed",
        )
    assert refused, "the first dead-letter publish must have failed"
    (letter,) = await list_dead_letters(infra.kafka_bootstrap, topic.dead_letter_topic("counter"))
    assert json.loads(letter.value)["data"]["sequence"] == 1
    assert await _sequences(database_url, "dlqdown") == [2]
