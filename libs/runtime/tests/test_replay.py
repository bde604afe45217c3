"""Replay is safe (issue 14, defect 4): it reaches only the group that parked an event, selects what
to replay, keeps provenance and the original time, and a dry run changes nothing."""

from __future__ import annotations

import json

import pytest
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_runtime.dead_letters import list_dead_letters, replay
from signaalpunt_testkit.plugin import Infra, TopicFactory, committed_offsets

from .apps.counter_app import build
from .helpers import eventually, probe, producer, running, send, settings_for

pytestmark = pytest.mark.slow


async def _committed(kafka: str, group: str, topic: str, want: int) -> bool:
    return await committed_offsets(kafka, group, topic) >= want


async def _letters_at_least(kafka: str, topic: str, want: int) -> bool:
    return len(await list_dead_letters(kafka, topic)) >= want


async def test_replay_reaches_only_the_group_that_parked_the_event(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "shared.v1", consumers=("first", "second"))
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "shared"), input_topic=None
    )
    handled: dict[str, list[int]] = {"first": [], "second": []}

    def counting(group: str) -> object:
        async def handle(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
            handled[group].append(event.data.sequence)

        return handle

    for group in ("first", "second"):
        service.consumer(topic, group=group)(counting(group))  # type: ignore[arg-type]
    first_dlq, second_dlq = topic.dead_letter_topic("first"), topic.dead_letter_topic("second")
    async with running(service), producer(infra.kafka_bootstrap) as p:
        await send(p, topic.name, b"{malformed")
        for group in ("first", "second"):
            await eventually(
                lambda g=group: _committed(infra.kafka_bootstrap, g, topic.name, 1),  # type: ignore[misc]
                what=f"{group} parked it",
            )
        replayed = await replay(infra.kafka_bootstrap, first_dlq)
        assert len(replayed) == 1
        await send(p, topic.name, probe("shared", 1))  # a marker behind the replayed copy
        for group in ("first", "second"):
            await eventually(
                lambda g=group: _committed(infra.kafka_bootstrap, g, topic.name, 3),  # type: ignore[misc]
                what=f"{group} passed the replayed copy",
            )
        await eventually(
            lambda: _letters_at_least(infra.kafka_bootstrap, first_dlq, 2),
            what="the owning group parked it again",
        )
    assert handled == {"first": [1], "second": [1]}
    assert len(await list_dead_letters(infra.kafka_bootstrap, second_dlq)) == 1, (
        "the other group must not see the replayed copy"
    )
    original, again = await list_dead_letters(infra.kafka_bootstrap, first_dlq)
    # the re-parked copy shows where it came from and that it was replayed once
    assert again.headers["signaalpunt-replay-count"] == "1"
    assert again.headers["signaalpunt-first-topic"] == topic.name
    assert again.headers["signaalpunt-first-offset"] == original.headers["dlq-original-offset"]
    assert again.headers["signaalpunt-replay-of"] == f"{first_dlq}:0:0"


async def _park(infra: Infra, dlq: str, original: str, errors: list[str]) -> list[str]:
    ids = []
    async with producer(infra.kafka_bootstrap) as p:
        for i, error in enumerate(errors):
            event = probe("select", i)
            ids.append(str(event.event_id))
            await p.send_and_wait(
                dlq,
                value=event.model_dump_json().encode(),
                key=b"select",
                timestamp_ms=1_700_000_000_000 + i,
                headers=[
                    ("signaalpunt-event-id", str(event.event_id).encode()),
                    ("dlq-error-class", error.encode()),
                    ("dlq-error-message", b"it failed"),
                    ("dlq-attempts", b"1"),
                    ("dlq-original-topic", original.encode()),
                    ("dlq-original-partition", b"0"),
                    ("dlq-original-offset", str(10 + i).encode()),
                    ("dlq-original-timestamp", str(1_600_000_000_000 + i).encode()),
                    ("dlq-consumer-group", b"counter"),
                    ("dlq-failed-at", f"2026-11-2{i}T10:00:00+00:00".encode()),
                ],
            )
    return ids


async def _on_topic(infra: Infra, topic: str) -> list[tuple[int, dict[str, bytes], bytes]]:
    reader = make_reader(infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([topic])
        batch = await reader.getmany(timeout_ms=5000)
        return [
            (r.timestamp, dict(r.headers), r.value or b"")
            for records in batch.values()
            for r in records
        ]
    finally:
        await reader.stop()


async def test_replay_selects_keeps_the_original_time_and_a_dry_run_changes_nothing(
    infra: Infra, kafka_topics: TopicFactory
) -> None:
    from signaalpunt_runtime.dead_letters import Selection

    topic = await kafka_topics.private(PLATFORM_PROBE, "select.v1", consumers=("counter",))
    dlq = topic.dead_letter_topic("counter")
    ids = await _park(
        infra,
        dlq,
        topic.name,
        ["builtins.RuntimeError", "builtins.KeyError", "builtins.RuntimeError", "x.Other"],
    )
    dry = await replay(
        infra.kafka_bootstrap, dlq, dry_run=True, select=Selection(event_ids={ids[1]})
    )
    assert [letter.offset for letter in dry] == [1]
    chosen = await replay(infra.kafka_bootstrap, dlq, select=Selection(event_ids={ids[1]}))
    assert [letter.offset for letter in chosen] == [1]
    by_class = await replay(
        infra.kafka_bootstrap, dlq, select=Selection(error_class="RuntimeError", from_offset=1)
    )
    assert [letter.offset for letter in by_class] == [2]
    on_topic = await _on_topic(infra, topic.name)
    assert [json.loads(value)["data"]["sequence"] for _, _, value in on_topic] == [1, 2]
    # the replayed copies keep the time the event first arrived, not the time of the replay
    assert [timestamp for timestamp, _, _ in on_topic] == [1_600_000_000_001, 1_600_000_000_002]
    assert all(h["signaalpunt-replay-for"] == b"counter" for _, h, _ in on_topic)
