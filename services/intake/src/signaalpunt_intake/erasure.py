"""Erasure's rules, without I/O: who may erase what, when a second coordinator must approve,
and when an open acute case stops it (AVG art. 17, "recht op vergetelheid").

A coordinator of the municipality finds the person's signals (blind index, then their own
confirmation of which signals really are that person), chooses a reason category and erases.
With four eyes configured, another coordinator of the same municipality approves before
anything is erased. Erasing a person whose case is open and acute needs an explicit
confirmation: erasure must never be how an acute sign gets missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from signaalpunt_access import AuthorizationError, Principal, PrincipalKind
from signaalpunt_contracts import ErasureReason, ErasureScope

COORDINATOR = "coordinator"


class OpenAcuteCasesError(ValueError):
    """Some of the signals have an open acute case: the coordinator must confirm explicitly."""

    def __init__(self, signal_ids: Sequence[UUID]) -> None:
        super().__init__(f"{len(signal_ids)} signal(s) have an open acute case")
        self.signal_ids = tuple(signal_ids)


class SameCoordinatorError(ValueError):
    """Four eyes: the coordinator who asked cannot approve their own request."""


@dataclass(frozen=True)
class Candidate:
    """A signal that may be about the person (found through the blind index or named)."""

    signal_id: UUID
    municipality: str
    channel: str
    received_at: datetime
    handling: str
    route: str | None
    reported_urgency: str
    subject_id: UUID
    reporter_id: UUID | None

    @property
    def open_acute(self) -> bool:
        """Acute by triage's route, or (not yet triaged) by the reporter's own urgency, and the
        case is not closed."""
        if self.handling == "handled":
            return False
        return self.route == "acuut" or (self.route is None and self.reported_urgency == "acute")


@dataclass(frozen=True)
class ErasureRequest:
    erasure_id: UUID
    municipality: str
    scope: ErasureScope
    reason: ErasureReason
    signal_ids: tuple[UUID, ...]
    requested_by: str
    open_acute_confirmed: bool
    state: str
    approved_by: str | None = None


def require_coordinator(principal: Principal, municipality: str) -> None:
    if principal.kind is not PrincipalKind.STAFF:
        raise AuthorizationError("erasure is for the signal point's coordinators")
    principal.require_role(COORDINATOR)
    principal.require_municipality(municipality)


def check_open_acute(scope: ErasureScope, candidates: Sequence[Candidate], confirmed: bool) -> None:
    """Erasing a person with an open acute case takes an explicit confirmation; a reporter's
    details alone can go (the case itself stays)."""
    if scope is ErasureScope.REPORTER or confirmed:
        return
    acute = [c.signal_id for c in candidates if c.open_acute]
    if acute:
        raise OpenAcuteCasesError(acute)


def check_approver(request: ErasureRequest, approver: str) -> None:
    if approver == request.requested_by:
        raise SameCoordinatorError("another coordinator must approve this erasure (four eyes)")
