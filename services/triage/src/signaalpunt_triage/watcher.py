"""The deadline watcher: signals.deadline-missed.v1 once per missed first-contact deadline,
and signals.possible-acute-review-missed.v1 once per possible-acute signal nobody reviewed in time.

Any number of replicas may run it: each pass claims due cases with `FOR UPDATE SKIP LOCKED`,
marks the deadline as reported and stages the event in the same transaction. A case whose
deadline changes (a coordinator raises the priority) can miss its new deadline once more.
"""

from __future__ import annotations

import asyncio
import contextlib

from signaalpunt_contracts import DeadlineMissedV1, PossibleAcuteReviewMissedV1
from signaalpunt_runtime.logs import get_logger

from . import repository
from .handlers import Triage

log = get_logger(__name__)


async def report_missed_deadlines(triage: Triage, *, batch: int = 200) -> int:
    """One pass: report every deadline that passed; returns how many this replica reported."""
    reported = 0
    while True:
        now = triage.clock()
        async with triage.service.transaction() as work:
            cases = await repository.claim_missed(work.connection, now, batch)
            for case in cases:
                await repository.mark_missed(
                    work.connection, case.signal_id, case.first_contact_due
                )
                missed = DeadlineMissedV1(
                    signal_id=case.signal_id,
                    route=case.route,
                    priority=case.priority,
                    state=case.state,
                    first_contact_due=case.first_contact_due,
                    detected_at=now,
                )
                await work.publish(
                    triage.topics.missed,
                    work.new_event(missed, municipality=case.municipality),
                    key=str(case.signal_id),
                )
                triage.metrics.deadlines_missed.labels(case.priority.value).inc()
        reported += len(cases)
        if len(cases) < batch:
            if reported:
                log.info("missed deadlines reported", count=reported)
            return reported


async def report_missed_reviews(triage: Triage, *, batch: int = 200) -> int:
    """One pass over possible-acute signals whose review deadline passed without a coordinator's
    decision; returns how many this replica reported."""
    reported = 0
    while True:
        now = triage.clock()
        async with triage.service.transaction() as work:
            cases = await repository.claim_review_missed(work.connection, now, batch)
            for case in cases:
                assert case.review_due is not None
                await repository.mark_review_missed(work.connection, case.signal_id)
                missed = PossibleAcuteReviewMissedV1(
                    signal_id=case.signal_id,
                    route=case.route,
                    review_due=case.review_due,
                    detected_at=now,
                )
                await work.publish(
                    triage.topics.review_missed,
                    work.new_event(missed, municipality=case.municipality),
                    key=str(case.signal_id),
                )
                triage.metrics.reviews_missed.inc()
        reported += len(cases)
        if len(cases) < batch:
            if reported:
                log.warning("possible-acute reviews missed", count=reported)
            return reported


class DeadlineWatcher:
    def __init__(self, triage: Triage, *, interval: float, batch: int) -> None:
        self._triage = triage
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deadline-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            metrics = self._triage.metrics
            try:
                await report_missed_reviews(self._triage, batch=self._batch)
                await report_missed_deadlines(self._triage, batch=self._batch)
            except Exception:  # the next pass tries again; the watcher must not die
                metrics.watcher_failed_passes.inc()
                log.exception("deadline watcher pass failed")
            else:
                metrics.watcher_last_pass.set_to_current_time()
            await asyncio.sleep(self._interval)
