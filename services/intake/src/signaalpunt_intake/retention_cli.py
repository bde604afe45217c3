"""`signaalpunt-retention`: the retention job once, from a shell, with a dry run.

    signaalpunt-retention run --dry-run             # what is due now, per municipality
    signaalpunt-retention run --dry-run --at 2027-06-01T00:00:00+00:00   # … on that day
    signaalpunt-retention run                       # carry it out

It reads intake's settings (`SIGNAALPUNT_INTAKE_…`), works on intake's database and key store,
and stages the `signals.erased.v1` events in intake's outbox, which the running intake publishes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import typer
from signaalpunt_contracts import SIGNALS_ERASED, SIGNALS_RECEIVED, Topic
from signaalpunt_runtime import Service

from .config import IntakeSettings
from .main import MIGRATIONS, make_intake
from .retention_job import Retention, RetentionReport

app = typer.Typer(help="Intake's data retention (issue 17).", no_args_is_help=True)


async def run_once(
    settings: IntakeSettings,
    *,
    dry_run: bool,
    at: datetime | None = None,
    erased: Topic = SIGNALS_ERASED,
) -> RetentionReport:
    service = Service(settings, title="Signaalpunt retention", migrations=MIGRATIONS)
    intake = make_intake(settings, service, received=SIGNALS_RECEIVED, erased=erased, partners={})
    retention = Retention(intake, settings)
    await service.start_database()
    try:
        return await retention.run(dry_run=dry_run, now=at)
    finally:
        await service.stop_database()


@app.command()
def run(
    dry_run: bool = typer.Option(False, help="only report what is due; change nothing"),
    at: datetime | None = typer.Option(None, help="as on this moment (ISO 8601; default: now)"),
) -> None:
    """Carry out (or with --dry-run only report) what retention says is due."""
    report = asyncio.run(run_once(IntakeSettings(), dry_run=dry_run, at=at))
    typer.echo(json.dumps(report.as_dict(), indent=2))


@app.command()
def policies() -> None:
    """The retention periods in force: the default and each municipality's own."""
    settings = IntakeSettings()
    typer.echo(
        json.dumps(
            {
                "default": settings.retention_default.model_dump(),
                "municipalities": {m: p.model_dump() for m, p in settings.retention.items()},
            },
            indent=2,
        )
    )
