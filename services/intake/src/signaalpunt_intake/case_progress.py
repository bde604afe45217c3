"""The reporter's status page follows the case: cases.steps.v1 in, one column updated.

A reporter learns only "received", "being handled" or "handled" (DOMAIN.md: follow-up must be
confidential); the step itself, the route and the reason stay with the signal point.
"""

from __future__ import annotations

from signaalpunt_contracts import CaseState, CaseStepRecordedV1, Envelope, Topic
from signaalpunt_runtime import Service, UnitOfWork

from . import erasure_repository, repository
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
    # transaction and commit per batch; a batch's steps of one signal are applied in their
    # order (one partition), and each step keeps its inbox row and its own failure class
    @service.consumer(steps, group="intake", batch_size=batch_size)
    async def on_case_step(event: Envelope[CaseStepRecordedV1], work: UnitOfWork) -> None:
        await repository.set_handling(
            work.connection, event.data.signal_id, HANDLING[event.data.state]
        )
        # when and how the case ended, for retention (None again when it is reopened)
        closed = event.data.state is CaseState.CLOSED
        await erasure_repository.set_closed(
            work.connection,
            event.data.signal_id,
            closed_as(event.data.close_reason) if closed else None,
            event.data.recorded_at if closed else None,
        )
        # whether the case is acute: erasing a person with an open acute case needs confirming
        await erasure_repository.set_route(
            work.connection, event.data.signal_id, event.data.route.value
        )
