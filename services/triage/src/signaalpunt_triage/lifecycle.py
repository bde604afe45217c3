"""The case lifecycle: received → triaged → in_intake → referred → closed, and back by reopening.

Pure: given a case's state and a step the desk records, the new state or a refusal with a reason
(the API answers it with 409). Acute cases are never closed without a coordinator, and never as
"not reachable": an acute case that cannot be reached is escalated, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaalpunt_contracts import CaseState, CaseStep, CloseReason, Route

OPEN = (CaseState.TRIAGED, CaseState.IN_INTAKE, CaseState.REFERRED)

_MOVES: dict[CaseStep, tuple[tuple[CaseState, ...], CaseState | None]] = {
    # step: (allowed from, to; None = unchanged)
    CaseStep.REPORTER_CONTACTED: ((CaseState.TRIAGED,), CaseState.IN_INTAKE),
    CaseStep.CONTACT_ATTEMPT_FAILED: ((CaseState.TRIAGED, CaseState.IN_INTAKE), None),
    CaseStep.NOT_REACHABLE: ((CaseState.TRIAGED, CaseState.IN_INTAKE), CaseState.CLOSED),
    CaseStep.INTAKE_DONE: ((CaseState.IN_INTAKE,), CaseState.REFERRED),
    CaseStep.CLOSED: (OPEN, CaseState.CLOSED),
    CaseStep.REOPENED: ((CaseState.CLOSED,), CaseState.TRIAGED),
    # the hulpvraag needs a conversation with the person (their consent): after first contact
    CaseStep.HELP_QUESTION_RECORDED: ((CaseState.IN_INTAKE, CaseState.REFERRED), None),
}


REFERRAL_OUTCOMES: dict[str, CloseReason] = {
    # a referral's last word (its step on the timeline) → the case's close reason
    "referral_completed": CloseReason.SUPPORT_ARRANGED,
    "referral_referred_elsewhere": CloseReason.SUPPORT_ARRANGED,  # the organisation found it
    "referral_no_longer_interested": CloseReason.DECLINED_BY_PERSON,
    "referral_could_not_contact": CloseReason.NOT_REACHABLE,
}
"""What closing "with the referral's outcome" means. A withdrawn referral is the team's own
step, not an outcome; a declined one moves on to the next offer."""


class TransitionRefusedError(Exception):
    """The step is not possible in the case's current state (HTTP 409)."""


@dataclass(frozen=True)
class Outcome:
    state: CaseState
    contact_attempts: int
    close_reason: CloseReason | None
    first_contact: bool
    """This step is the first contact with the reporter or the person."""


def apply_step(
    *,
    state: CaseState,
    route: Route,
    step: CaseStep,
    contact_attempts: int,
    max_contact_attempts: int,
    close_reason: CloseReason | None,
    is_coordinator: bool,
    had_first_contact: bool,
) -> Outcome:
    if step is CaseStep.TRIAGED:
        raise TransitionRefusedError("triage is decided by the rules or a coordinator decision")
    allowed, target = _MOVES[step]
    if state not in allowed:
        raise TransitionRefusedError(
            f"{step.value} is not possible when the case is {state.value} "
            f"(only from {', '.join(s.value for s in allowed)})"
        )
    attempts = contact_attempts
    reason: CloseReason | None = None
    if step is CaseStep.CONTACT_ATTEMPT_FAILED:
        attempts += 1
    if step is CaseStep.NOT_REACHABLE:
        if route is Route.ACUUT:
            raise TransitionRefusedError(
                "an acute case is never closed as not reachable: escalate (113, GP, police)"
            )
        if attempts < max_contact_attempts:
            raise TransitionRefusedError(
                f"not reachable needs {max_contact_attempts} failed contact attempts first "
                f"({attempts} recorded)"
            )
        reason = CloseReason.NOT_REACHABLE
    if step is CaseStep.CLOSED:
        if close_reason is None:
            raise TransitionRefusedError("closing needs a close_reason")
        if route is Route.ACUUT and not is_coordinator:
            raise TransitionRefusedError("only a coordinator closes an acute case")
        reason = close_reason
    elif close_reason is not None and step is not CaseStep.NOT_REACHABLE:
        raise TransitionRefusedError("close_reason belongs to the closed step only")
    first = not had_first_contact and step in (CaseStep.REPORTER_CONTACTED, CaseStep.INTAKE_DONE)
    return Outcome(
        state=target or state, contact_attempts=attempts, close_reason=reason, first_contact=first
    )
