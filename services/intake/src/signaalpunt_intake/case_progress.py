"""The reporter's status page follows the case: cases.steps.v1 in, one column updated.

A reporter learns only "received", "being handled" or "handled" (DOMAIN.md: follow-up must be
confidential); the step itself, the route and the reason stay with the signal point.
"""

from __future__ import annotations

from signaalpunt_contracts import CaseState, CaseStepRecordedV1, Envelope, Topic
from signaalpunt_runtime import Service, UnitOfWork

from . import repository
from .retention import closed_as

HANDLING: dict[CaseState, str] = {
    CaseState.RECEIVED: "received",
    CaseState.TRIAGED: "being_handled",
    CaseState.IN_INTAKE: "being_handled",
    CaseState.REFERRED: "being_handled",
    CaseState.CLOSED: "handled",
}


def register_case_progress(service: Service, steps: Topic, *, batch_size: int | None) -> None:
    # in batches (issue 22: 2.0 ms per step one at a time, more than taking a signal in): one
    # transaction and one statement per batch; a signal's steps in a batch come in their order
    # (one partition), so its last step is where its case stands
    async def follow(events: list[Envelope[CaseStepRecordedV1]], work: UnitOfWork) -> None:
        latest = {event.data.signal_id: event.data for event in events}
        await repository.follow_cases(work.connection, [progress(s) for s in latest.values()])

    if batch_size:
        service.consumer(steps, group="intake", batch_size=batch_size, as_list=True)(follow)
    else:

        @service.consumer(steps, group="intake")
        async def on_case_step(event: Envelope[CaseStepRecordedV1], work: UnitOfWork) -> None:
            await follow([event], work)


def progress(step: CaseStepRecordedV1) -> repository.CaseProgress:
    """The step's state as the reporter may know it; when and how the case ended, for retention
    (None again when it is reopened); and its route."""
    closed = step.state is CaseState.CLOSED
    return repository.CaseProgress(
        signal_id=step.signal_id,
        handling=HANDLING[step.state],
        closed_as=closed_as(step.close_reason) if closed else None,
        closed_at=step.recorded_at if closed else None,
        route=step.route.value,
    )
