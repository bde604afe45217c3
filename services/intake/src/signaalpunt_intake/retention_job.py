"""The retention job: finds what is due (`retention.due`) and carries it out as erasures with
reason `retention_expired`, requested by `system:retention` (no four eyes: the periods were
agreed beforehand). A dry run reports what it would do and changes nothing.

Every replica may run it: an erasure is carried out under its request's row lock, and a signal
already deleted is simply not found again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from signaalpunt_contracts import ErasureReason, ErasureScope
from signaalpunt_runtime.logs import get_logger
from uuid_utils.compat import uuid7

from . import erasure_repository as repo
from .config import IntakeSettings
from .erasure import ErasureRequest
from .erasure_workflow import carry_out
from .recording import Intake
from .retention import Due, RetentionAction, due

log = get_logger(__name__)

RETENTION_ACTOR = "system:retention"
ERASURE_RECORD = "erasure_record"
"""The metrics' action for erasure records removed after their own retention."""


@dataclass
class RetentionReport:
    dry_run: bool
    counts: Tally[tuple[str, str]] = field(default_factory=Tally)
    """(municipality, action) → signals."""
    erasure_records: dict[str, int] = field(default_factory=dict)
    """municipality → erasure records past their own retention."""

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "due": [
                {"municipality": m, "action": a, "signals": n}
                for (m, a), n in sorted(self.counts.items())
            ],
            "erasure_records": [
                {"municipality": m, "records": n} for m, n in sorted(self.erasure_records.items())
            ],
        }


class Retention:
    """The job on one intake: `run()` carries out what is due (or, dry, only reports it)."""

    def __init__(self, intake: Intake, settings: IntakeSettings, *, batch: int = 500) -> None:
        self.intake, self.batch = intake, batch
        self.policies, self.default = settings.retention, settings.retention_default
        self.erasure_record_days = settings.erasure_record_days
        self.removed = Counter(
            "signaalpunt_retention_removed",
            "Signals whose data retention removed, by action (anonymise_reporter, delete), and "
            "erasure records removed (erasure_record)",
            ["action"],
            registry=intake.service.metrics,
        )
        self.due_now = Gauge(
            "signaalpunt_retention_due",
            "Signals due for retention at the last run (a dry run counts here only)",
            ["action"],
            registry=intake.service.metrics,
        )

    async def run(self, *, dry_run: bool, now: datetime | None = None) -> RetentionReport:
        now = now or datetime.now(UTC)
        shortest = min(
            min(p.reporter_days, p.cancelled_days, p.handled_days)
            for p in [self.default, *self.policies.values()]
        )
        # erasure records first: this run's own erasures are never among them
        records_before = now - timedelta(days=self.erasure_record_days)
        async with self.intake.service.pool.acquire() as conn:
            records = await (
                repo.erasure_records_before if dry_run else repo.delete_erasure_records
            )(conn, records_before)
            closed = await repo.closed_before(conn, now - timedelta(days=shortest), self.batch)
        todo = due(closed, self.policies, now, self.default)
        report = RetentionReport(dry_run=dry_run, erasure_records=records)
        for item in todo:
            report.counts[(item.signal.municipality, item.action.value)] += 1
        # the consortium's figures: a running figure per municipality would tell each erasure
        # and each closed case of a small one (docs/metrics.md)
        self.due_now.clear()
        per_action: Tally[str] = Tally()
        for (_, action), n in report.counts.items():
            per_action[action] += n
        per_action[ERASURE_RECORD] += sum(records.values())
        for action, n in per_action.items():
            self.due_now.labels(action).set(n)
        if not dry_run and records:
            self.removed.labels(ERASURE_RECORD).inc(sum(records.values()))
        if not dry_run:
            for item in todo:
                await _apply(self.intake, item, now)
                self.removed.labels(item.action.value).inc()
        if todo or records:
            log.info(
                "retention run",
                dry_run=dry_run,
                due=len(todo),
                erasure_records=sum(records.values()),
            )
        return report


async def _apply(intake: Intake, item: Due, now: datetime) -> None:
    person = item.action is RetentionAction.DELETE
    request = ErasureRequest(
        erasure_id=uuid7(),
        municipality=item.signal.municipality,
        scope=ErasureScope.PERSON if person else ErasureScope.REPORTER,
        reason=ErasureReason.RETENTION_EXPIRED,
        signal_ids=(item.signal.signal_id,),
        requested_by=RETENTION_ACTOR,
        open_acute_confirmed=False,
        state="awaiting_approval",
    )
    async with intake.service.transaction() as work:
        await repo.insert_request(work.connection, request, now)
        if not person:
            await repo.mark_reporter_anonymised(work.connection, request.signal_ids, now)
    await carry_out(intake, request.erasure_id, approved_by=None)


class RetentionWatcher:
    """Runs the job every `interval` seconds (the first run one interval after start)."""

    def __init__(self, run: Callable[[], Awaitable[object]], interval: float) -> None:
        self.run, self.interval = run, interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run()
            except Exception:  # a database that is down: try again next round
                log.exception("retention run failed")
