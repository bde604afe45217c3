"""`signaalpunt-metrics`: tools of the metrics service.

signaalpunt-metrics rebuild     # stop the service first; replays the topics into fresh read models
"""

from __future__ import annotations

import asyncio
import dataclasses

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from signaalpunt_contracts import Topic

from .config import MetricsSettings
from .handlers import MetricsTopics
from .rebuild import RebuildRefusedError, rebuild

app = typer.Typer(help="Signaalpunt metrics: tools", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Signaalpunt metrics tools (settings from SIGNAALPUNT_METRICS_* and SIGNAALPUNT_*)."""


def _prefixed(prefix: str) -> MetricsTopics:
    """Every topic as `<prefix>.<name>`: for test installations that prefix their topics."""
    base = MetricsTopics()
    changes: dict[str, Topic] = {
        f.name: dataclasses.replace(
            getattr(base, f.name), name=f"{prefix}.{getattr(base, f.name).name}"
        )
        for f in dataclasses.fields(base)
    }
    return dataclasses.replace(base, **changes)


@app.command("rebuild")
def rebuild_command(
    topic_prefix: str = typer.Option("", help="read <prefix>.<topic> (test installations)"),
) -> None:
    """Replay the full retained topic history into fresh read models, then swap them in.

    Stop the metrics service first (the command refuses while its consumer group has members);
    start it again afterwards: it goes on where the rebuild stopped.
    """
    settings = MetricsSettings()
    topics = _prefixed(topic_prefix) if topic_prefix else MetricsTopics()
    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def advance(topic: str, done: int, total: int) -> None:
            if topic not in tasks:
                tasks[topic] = int(bar.add_task(topic, total=max(total, 1)))
            bar.update(tasks[topic], completed=done if total else 1)  # type: ignore[arg-type]

        try:
            report = asyncio.run(rebuild(settings, topics, progress=advance))
        except RebuildRefusedError as exc:
            console.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from exc
    table = Table(title="Rebuilt read models")
    for column in ("topic", "events", "duplicates", "invalid (skipped)"):
        table.add_column(column)
    for name, events in report.events.items():
        table.add_row(name, str(events), str(report.duplicates[name]), str(report.invalid[name]))
    console.print(table)


if __name__ == "__main__":
    app()
