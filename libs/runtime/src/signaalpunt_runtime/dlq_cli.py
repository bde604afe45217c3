"""`signaalpunt-dlq`: look at and replay dead-letter topics.

    signaalpunt-dlq topics                      every dead-letter topic in the registry, with counts
    signaalpunt-dlq list TOPIC [--limit N]      what is parked: offset, time, error, original place
    signaalpunt-dlq replay TOPIC [--dry-run]    send parked events back, for their own group only
        [--partition P] [--from-offset N] [--to-offset M] [--event-id ID ...]
        [--error-class TEXT] [--since ISO-TIME] [--until ISO-TIME]

A replayed copy carries `signaalpunt-replay-for: <the group that parked it>`; every other group on
the topic skips it, so only that group handles it again. Without a selection, replay continues
where the previous one stopped (the position is committed per dead-letter topic); with one, it
replays the matching entries of the whole topic. Either way the owning group's inbox ignores an
event it already handled. Values are never printed (they may hold encrypted personal data); keys
and headers carry none.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import REGISTRY

from .dead_letters import (
    ATTEMPTS,
    CONSUMER_GROUP,
    FAILED_AT,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    REPLAY_COUNT,
    DeadLetter,
    Selection,
    dead_letter_topics,
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
    for column in ("offset", "failed at", "group", "original", "attempts", "replays", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        h = letter.headers
        table.add_row(
            f"{letter.partition}:{letter.offset}",
            h.get(FAILED_AT, "?"),
            h.get(CONSUMER_GROUP, "?"),
            ":".join(h.get(k, "?") for k in (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)),
            h.get(ATTEMPTS, "?"),
            h.get(REPLAY_COUNT, "0"),
            letter.error,
        )
    return table


@app.command("topics")
def topics(bootstrap: str = Bootstrap) -> None:
    """Every dead-letter topic of the registry with the number of events in it."""

    table = Table(title="Dead-letter topics")
    for column in ("topic", "consumer group", "events"):
        table.add_column(column)
    for row in asyncio.run(dead_letter_topics(bootstrap, REGISTRY)):
        events = "not made yet" if row.events is None else str(row.events)
        table.add_row(row.topic, row.group, events)
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
def replay_command(  # noqa: PLR0917 - one option per criterion, as typer wants them
    topic: str,
    limit: int | None = typer.Option(None, help="replay at most this many"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="show what would be replayed, send nothing"
    ),
    partition: int | None = typer.Option(None, help="only this partition of the dead-letter topic"),
    from_offset: int | None = typer.Option(None, help="only entries at or after this offset"),
    to_offset: int | None = typer.Option(None, help="only entries at or before this offset"),
    event_id: list[str] = typer.Option([], help="only these event ids (repeat the option)"),
    error_class: str | None = typer.Option(None, help="only errors whose class contains this"),
    since: datetime | None = typer.Option(None, help="only entries parked at or after this time"),
    until: datetime | None = typer.Option(None, help="only entries parked at or before this time"),
    bootstrap: str = Bootstrap,
) -> None:
    """Send parked events back to their original topic, for the group that parked them only."""
    criteria = (partition, from_offset, to_offset, error_class, since, until)
    select = (
        Selection(
            partition=partition,
            from_offset=from_offset,
            to_offset=to_offset,
            event_ids=set(event_id),
            error_class=error_class,
            since=since,
            until=until,
        )
        if event_id or any(c is not None for c in criteria)
        else None
    )
    sealed: list[DeadLetter] = []
    letters = asyncio.run(
        replay(bootstrap, topic, limit=limit, dry_run=dry_run, select=select, not_replayable=sealed)
    )
    verb = "would replay" if dry_run else "replayed"
    groups = sorted({letter.owning_group for letter in letters})
    console.print(
        _table(
            f"{verb} {len(letters)} event(s) from {topic} for {', '.join(groups) or '-'}", letters
        )
    )
    if sealed:
        console.print(
            _table(
                f"not replayed: {len(sealed)} sealed event(s) (the dead-letter topic keeps only "
                "an encrypted copy of what the sender should not have sent; only the sender can "
                "send it again, and was told so)",
                sealed,
            )
        )
