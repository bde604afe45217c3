"""`signaalpunt-dlq`: look at and replay dead-letter topics.

    signaalpunt-dlq topics                      every dead-letter topic in the registry, with counts
    signaalpunt-dlq list TOPIC [--limit N]      what is parked: offset, time, error, original place
    signaalpunt-dlq replay TOPIC [--dry-run]    send parked events back to their topic, once

Replay is safe to repeat: the position is committed per dead-letter topic, and every consumer
group's inbox ignores events it already handled. Values are never printed (they may hold
encrypted personal data); keys and headers carry none.
"""

from __future__ import annotations

import asyncio
import os

import typer
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import REGISTRY

from .broker_factory import make_reader
from .dead_letters import (
    ATTEMPTS,
    CONSUMER_GROUP,
    FAILED_AT,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    DeadLetter,
    list_dead_letters,
    replay,
)

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(width=200)

Bootstrap = typer.Option(
    os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), help="Kafka bootstrap servers"
)


def _table(title: str, letters: list[DeadLetter]) -> Table:
    table = Table(title=title)
    for column in ("offset", "failed at", "group", "original", "attempts", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        h = letter.headers
        table.add_row(
            f"{letter.partition}:{letter.offset}",
            h.get(FAILED_AT, "?"),
            h.get(CONSUMER_GROUP, "?"),
            ":".join(h.get(k, "?") for k in (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)),
            h.get(ATTEMPTS, "?"),
            letter.error,
        )
    return table


@app.command("topics")
def topics(bootstrap: str = Bootstrap) -> None:
    """Every dead-letter topic of the registry with the number of events in it."""

    async def counts() -> list[tuple[str, str, int]]:
        reader = make_reader(bootstrap)
        await reader.start()
        try:
            rows = []
            for topic in REGISTRY:
                for group, dlq in topic.dead_letter_topics.items():
                    tp = TopicPartition(dlq, 0)
                    ends = await reader.end_offsets([tp])
                    starts = await reader.beginning_offsets([tp])
                    rows.append((dlq, group, ends[tp] - starts[tp]))
            return rows
        finally:
            await reader.stop()

    table = Table(title="Dead-letter topics")
    for column in ("topic", "consumer group", "events"):
        table.add_column(column)
    for dlq, group, count in asyncio.run(counts()):
        table.add_row(dlq, group, str(count))
    console.print(table)


@app.command("list")
def list_command(
    topic: str,
    limit: int = typer.Option(100, help="show at most this many"),
    bootstrap: str = Bootstrap,
) -> None:
    """Show the events parked in a dead-letter topic."""
    letters = asyncio.run(list_dead_letters(bootstrap, topic, limit=limit))
    console.print(_table(f"{topic}: {len(letters)} event(s)", letters))


@app.command("replay")
def replay_command(
    topic: str,
    limit: int | None = typer.Option(None, help="replay at most this many"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would be replayed"),
    bootstrap: str = Bootstrap,
) -> None:
    """Send parked events back to their original topic (each once)."""
    letters = asyncio.run(replay(bootstrap, topic, limit=limit, dry_run=dry_run))
    verb = "would replay" if dry_run else "replayed"
    console.print(_table(f"{verb} {len(letters)} event(s) from {topic}", letters))
