"""Retention (pure): what happens to a signal some time after its final state.

Defaults after Signalen: the reporter's details are anonymised 365 days after the final state; a
cancelled signal (closed as a duplicate or out of scope) is deleted after 1 year, a handled one
after 5. A municipality may set its own periods. Deleting is an erasure with reason
`retention_expired` (the keys shredded, `signals.erased.v1` out, every service forgets); the
erasure record is the tombstone. Nothing about an open case is ever removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

CANCELLED_REASONS = frozenset({"duplicate", "out_of_scope"})
"""Close reasons that mean the signal was cancelled rather than handled."""


class RetentionPolicy(BaseModel):
    reporter_days: int = Field(default=365, ge=1, description="reporter anonymised after")
    cancelled_days: int = Field(default=365, ge=1, description="cancelled signal deleted after")
    handled_days: int = Field(default=5 * 365, ge=1, description="handled signal deleted after")


class RetentionAction(StrEnum):
    ANONYMISE_REPORTER = "anonymise_reporter"
    DELETE = "delete"


@dataclass(frozen=True)
class ClosedSignal:
    signal_id: UUID
    municipality: str
    closed_as: str  # handled | cancelled
    closed_at: datetime
    reporter_left: bool  # a reporter's details still there to anonymise


@dataclass(frozen=True)
class Due:
    signal: ClosedSignal
    action: RetentionAction


def closed_as(close_reason: str | None) -> str:
    return "cancelled" if close_reason in CANCELLED_REASONS else "handled"


def due(
    signals: Iterable[ClosedSignal],
    policies: Mapping[str, RetentionPolicy],
    now: datetime,
    default: RetentionPolicy | None = None,
) -> list[Due]:
    """What is due now: a deletion when its period passed (it takes the reporter with it),
    otherwise the reporter's anonymisation when that period passed."""
    fallback = default or RetentionPolicy()
    found: list[Due] = []
    for s in signals:
        policy = policies.get(s.municipality, fallback)
        keep = policy.cancelled_days if s.closed_as == "cancelled" else policy.handled_days
        if now - s.closed_at >= timedelta(days=keep):
            found.append(Due(s, RetentionAction.DELETE))
        elif s.reporter_left and now - s.closed_at >= timedelta(days=policy.reporter_days):
            found.append(Due(s, RetentionAction.ANONYMISE_REPORTER))
    return found
