"""`signaalpunt-topics`: create/update the broker's topics from the registry (`make topics`)."""

from __future__ import annotations

import asyncio
import os

import typer
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import REGISTRY

from .topic_admin import ensure_topics

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()


@app.command()
def ensure(
    bootstrap: str = typer.Option(
        os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
        help="Kafka bootstrap servers",
    ),
) -> None:
    """Create missing topics (and their dead-letter topics), add partitions, align configuration."""
    changes = asyncio.run(ensure_topics(bootstrap, REGISTRY.broker_topics()))
    table = Table(title=f"Topics on {bootstrap}")
    for column in ("topic", "partitions", "change", "detail"):
        table.add_column(column)
    for change in changes:
        table.add_row(change.name, str(change.partitions), change.change, change.detail)
    console.print(table)
    if any(c.change == "too many partitions" for c in changes):
        raise typer.Exit(code=1)


@app.command("list")
def list_topics() -> None:
    """Print the registry: topics, keys, partitions, producers, consumers, dead-letter topics."""
    table = Table(title="Topic registry")
    for column in ("topic", "key", "value", "partitions", "retention", "producers", "consumers"):
        table.add_column(column)
    for topic in REGISTRY:
        table.add_row(
            topic.name,
            topic.key,
            topic.value.__name__,
            str(topic.partitions),
            str(topic.retention),
            ", ".join(topic.producers),
            ", ".join(f"{g} (dlq {topic.dead_letter_topic(g)})" for g in topic.consumers),
        )
    console.print(table)
