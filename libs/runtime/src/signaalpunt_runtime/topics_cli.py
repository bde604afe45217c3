"""`signaalpunt-topics`: create/update the broker's topics from the registry (`make topics`)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import REGISTRY

from .topic_admin import PROBLEMS, TopicAdminError, ensure_topics
from .topics_settings import TopicSettings

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()


@app.command()
def ensure(
    bootstrap: str | None = typer.Option(
        None, help="Kafka bootstrap servers (default: SIGNAALPUNT_KAFKA_BOOTSTRAP)"
    ),
) -> None:
    """Create missing topics (and their dead-letter topics), add partitions, align configuration.

    Replication factor and min.insync.replicas: SIGNAALPUNT_TOPICS_REPLICATION_FACTOR and
    SIGNAALPUNT_TOPICS_MIN_INSYNC_REPLICAS (1 and 1 by default; 3 and 2 in production)."""
    settings = TopicSettings()
    bootstrap = bootstrap or settings.kafka_bootstrap
    try:
        changes = asyncio.run(ensure_topics(bootstrap, REGISTRY.broker_topics(), settings=settings))
    except TopicAdminError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=1) from exc
    table = Table(
        title=f"Topics on {bootstrap} (replication factor {settings.replication_factor}, "
        f"min.insync.replicas {settings.min_insync_replicas})"
    )
    for column in ("topic", "partitions", "change", "detail"):
        table.add_column(column)
    for change in changes:
        table.add_row(change.name, str(change.partitions), change.change, change.detail)
    console.print(table)
    if any(c.change in PROBLEMS for c in changes):
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
