"""The dead-letter command lists parked events and replays each one once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest
from rich.console import Console
from signaalpunt_contracts import PLATFORM_PROBE, TopicRegistry
from signaalpunt_runtime import dlq_cli
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_runtime.dlq_cli import app
from signaalpunt_testkit.plugin import Infra, TopicFactory
from typer.testing import CliRunner

from .helpers import probe, producer


async def _park(infra: Infra, dlq: str, original: str, count: int) -> None:
    async with producer(infra.kafka_bootstrap) as p:
        for i in range(count):
            await p.send_and_wait(
                dlq,
                value=probe("cli", i).model_dump_json().encode(),
                key=b"cli",
                headers=[
                    ("dlq-error-class", b"builtins.RuntimeError"),
                    ("dlq-error-message", f"handler failed on {i}".encode()),
                    ("dlq-attempts", b"5"),
                    ("dlq-original-topic", original.encode()),
                    ("dlq-original-partition", b"0"),
                    ("dlq-original-offset", str(i).encode()),
                    ("dlq-consumer-group", b"counter"),
                    ("dlq-failed-at", b"2026-11-23T10:00:00+00:00"),
                    ("signaalpunt-event-type", b"signaalpunt.platform.probe.v1"),
                ],
            )


async def _original_topic_headers(infra: Infra, topic: str) -> list[dict[str, bytes]]:
    reader = make_reader(infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([topic])
        batch = await reader.getmany(timeout_ms=5000)
        return [dict(r.headers) for records in batch.values() for r in records]
    finally:
        await reader.stop()


async def test_list_and_replay(infra: Infra, kafka_topics: TopicFactory) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "cli.v1", consumers=("counter",))
    dlq = topic.dead_letter_topic("counter")
    await _park(infra, dlq, topic.name, 3)
    runner = CliRunner()
    args = ["--bootstrap", infra.kafka_bootstrap]

    listed = await asyncio.to_thread(runner.invoke, app, ["list", dlq, *args])
    assert listed.exit_code == 0, listed.output
    assert "3 event(s)" in listed.output
    assert "handler failed on 2" in listed.output

    dry = await asyncio.to_thread(runner.invoke, app, ["replay", dlq, "--dry-run", *args])
    assert "would replay 3 event(s)" in dry.output
    assert "for counter" in dry.output
    first = await asyncio.to_thread(runner.invoke, app, ["replay", dlq, "--limit", "2", *args])
    assert "replayed 2 event(s)" in first.output, first.output
    rest = await asyncio.to_thread(runner.invoke, app, ["replay", dlq, *args])
    assert "replayed 1 event(s)" in rest.output, rest.output
    again = await asyncio.to_thread(runner.invoke, app, ["replay", dlq, *args])
    assert "replayed 0 event(s)" in again.output

    headers = await _original_topic_headers(infra, topic.name)
    assert len(headers) == 3
    assert all(not any(k.startswith("dlq-") for k in h) for h in headers)
    assert all(h["signaalpunt-replay-for"] == b"counter" for h in headers)
    assert sorted(h["signaalpunt-replay-of"].decode().rsplit(":", 1)[1] for h in headers) == [
        "0",
        "1",
        "2",
    ]
    assert sorted(h["signaalpunt-first-offset"] for h in headers) == [b"0", b"1", b"2"]
    assert all(h["signaalpunt-event-type"] == b"signaalpunt.platform.probe.v1" for h in headers)


async def test_replay_selects_by_error_class_and_offset(
    infra: Infra, kafka_topics: TopicFactory
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "cli-select.v1", consumers=("counter",))
    dlq = topic.dead_letter_topic("counter")
    await _park(infra, dlq, topic.name, 4)
    runner = CliRunner()
    args = ["--bootstrap", infra.kafka_bootstrap]
    chosen = await asyncio.to_thread(
        runner.invoke,
        app,
        ["replay", dlq, "--error-class", "RuntimeError", "--from-offset", "2", "--dry-run", *args],
    )
    assert chosen.exit_code == 0, chosen.output
    assert "would replay 2 event(s)" in chosen.output
    sent = await asyncio.to_thread(runner.invoke, app, ["replay", dlq, "--to-offset", "0", *args])
    assert "replayed 1 event(s)" in sent.output, sent.output
    assert len(await _original_topic_headers(infra, topic.name)) == 1


async def test_topics_names_a_dead_letter_topic_not_made_yet(
    infra: Infra, kafka_topics: TopicFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry topic whose dead-letter topics do not exist yet (a new consumer, a cluster
    where `signaalpunt-topics ensure` has not run) is shown as such, not a 40 s time-out."""
    made = await kafka_topics.private(PLATFORM_PROBE, "cli-count.v1", consumers=("counter",))
    await _park(infra, made.dead_letter_topic("counter"), made.name, 2)
    absent = replace(made, name=made.name.replace("cli-count", f"cli-{uuid.uuid4().hex[:8]}"))
    monkeypatch.setattr(dlq_cli, "REGISTRY", TopicRegistry((made, absent)))
    monkeypatch.setattr(dlq_cli, "console", Console(width=250))  # whole topic names

    shown = await asyncio.to_thread(
        CliRunner().invoke, app, ["topics", "--bootstrap", infra.kafka_bootstrap]
    )
    assert shown.exit_code == 0, shown.output
    rows = {line.split("│")[1].strip(): line for line in shown.output.splitlines() if "│" in line}
    assert rows[made.dead_letter_topic("counter")].split("│")[3].strip() == "2"
    assert "not made yet" in rows[absent.dead_letter_topic("counter")]
