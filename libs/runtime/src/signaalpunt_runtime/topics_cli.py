"""`signaalpunt-topics`: create/update the broker's topics from the registry (`make topics`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import REGISTRY

from .kafka_acls import apply_acls, registry_principals
from .kafka_security import shared_security
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


@app.command()
def acls(
    partner: list[str] = typer.Option(
        [],
        help="a partner's URN (repeat): its principal writes partner.signals.v1 and reads only "
        "its own rejections",
    ),
    partners_file: Path | None = typer.Option(
        None, help="a partners.yaml (deploy/local/partners.yaml) whose partners get principals"
    ),
    apply: bool = typer.Option(False, help="make the broker's ACLs of these principals so"),
    local_users: bool = typer.Option(
        False, help="also give every principal its local development password (deploy/local)"
    ),
    bootstrap: str | None = typer.Option(None, help="default: SIGNAALPUNT_KAFKA_BOOTSTRAP"),
) -> None:
    """The ACLs the topic registry implies: a principal per service and per partner."""
    urns = list(partner)
    if partners_file is not None:
        urns += [p["urn"] for p in yaml.safe_load(partners_file.read_text())["partners"]]
    wanted = registry_principals(REGISTRY, urns)
    table = Table(title="Kafka ACLs from the topic registry (ALLOW; everything else is refused)")
    for column in ("principal", "resource", "name", "pattern", "operation"):
        table.add_column(column)
    for principal, granted in sorted(wanted.items()):
        for acl in sorted(granted):
            table.add_row(
                f"User:{principal}", acl.resource_type, acl.name, acl.pattern, acl.operation
            )
    console.print(table)
    if not apply:
        return
    bootstrap = bootstrap or TopicSettings().kafka_bootstrap
    changes = apply_acls(bootstrap, shared_security(), wanted, local_users=local_users)
    console.print(
        f"applied on {bootstrap}: {changes.added} added, {changes.removed} removed"
        + (f", {len(changes.users)} local users" if changes.users else "")
    )
