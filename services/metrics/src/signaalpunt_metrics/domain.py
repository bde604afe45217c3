"""The metrics service's rules, without I/O: which labels a fact gets, what counts as first
contact, and how far a SMART goal has come."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID

from signaalpunt_contracts import CaseStep, SignalReceivedV1

NO_PARTNER = "none"
"""The partner_type label of a signal that no partner organisation reported."""

FIRST_CONTACT_STEPS = frozenset({CaseStep.REPORTER_CONTACTED, CaseStep.INTAKE_DONE})
"""Steps that mean someone has spoken with the reporter or the person: first contact."""

ACUTE_PICK_UP = timedelta(hours=1)
"""An acute alert counts as picked up when first contact follows within this time."""

SMALL_COUNT = 5
"""Dashboards hide counts below this per municipality and period (docs/metrics.md)."""

_LABEL_VALUE = re.compile(r"[^a-z0-9_-]+")


def partner_type(signal: SignalReceivedV1) -> str:
    """A small, fixed vocabulary (huisarts, supermarkt, wmo, …): safe as a metric label."""
    value = signal.reporter.partner_type
    if not value:
        return NO_PARTNER
    cleaned = _LABEL_VALUE.sub("_", value.strip().lower()).strip("_")[:40]
    return cleaned or NO_PARTNER


def is_first_contact(step: CaseStep) -> bool:
    return step in FIRST_CONTACT_STEPS


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    inhabitants: int


@dataclass(frozen=True)
class Period:
    """[start, until) in whole days (local dates; midnight UTC is close enough for a rate)."""

    start: date
    until: date

    def __post_init__(self) -> None:
        if self.until <= self.start:
            raise ValueError(f"period {self.start}..{self.until} must end after it starts")

    @property
    def days(self) -> float:
        return float((self.until - self.start).days)

    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    def until_at(self) -> datetime:
        return datetime.combine(self.until, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Goal:
    """ "Raise the reporting rate by `target_change` in `period` compared with `baseline`"."""

    name: str
    description: str
    baseline: Period
    period: Period
    target_change: float
    municipalities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    partner_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,60}", self.name):
            raise ValueError(f"goal name {self.name!r}: lowercase words with hyphens")
        if self.target_change == 0:
            raise ValueError(f"goal {self.name}: a target change of 0 is no goal")


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    baseline_per_day: float
    per_day: float | None
    """Signals per day so far in the measurement period; None before it starts."""
    elapsed_ratio: float
    """How much of the measurement period has passed (0..1)."""

    @property
    def change(self) -> float | None:
        """Observed change of the rate against the baseline (0.15 = +15 %)."""
        if self.per_day is None or self.baseline_per_day == 0:
            return None
        return self.per_day / self.baseline_per_day - 1

    @property
    def progress(self) -> float | None:
        """Observed change as a share of the target change (1.0 = goal reached)."""
        change = self.change
        return None if change is None else change / self.goal.target_change


def goal_progress(
    goal: Goal, *, baseline_count: int, period_count: int, now: datetime
) -> GoalProgress:
    """Rates are per day so that a period half over compares fairly with a whole baseline."""
    elapsed = (min(now, goal.period.until_at()) - goal.period.start_at()).total_seconds() / 86400
    per_day = period_count / elapsed if elapsed > 0 else None
    return GoalProgress(
        goal=goal,
        baseline_per_day=baseline_count / goal.baseline.days,
        per_day=per_day,
        elapsed_ratio=max(0.0, min(1.0, elapsed / goal.period.days)),
    )


# -- batches: what several events of one batch make of one row ---------------------------------

Row = TypeVar("Row", bound=tuple[Any, ...])


def keep_first(rows: Iterable[Row], key: int = 1) -> list[Row]:
    """The rows in order, each key (its first `key` values) once: the first, as an INSERT … ON
    CONFLICT DO NOTHING per event keeps the first of them."""
    seen: set[tuple[Any, ...]] = set()
    kept: list[Row] = []
    for row in rows:
        k = row[:key]
        if k not in seen:
            seen.add(k)
            kept.append(row)
    return kept


@dataclass(frozen=True)
class CaseRow:
    """What one case step says about its case's row (cases), or several merged."""

    signal_id: UUID
    municipality: str
    state: str
    state_at: datetime
    received_at: datetime
    first_contact_at: datetime | None
    first_contact_route: str | None

    def then(self, later: CaseRow) -> CaseRow:
        """This row after `later` (a step that came after it) is applied, by the upsert's rules:
        the latest state wins (a tie: the step that came later), the earliest first contact wins
        (a tie: the one that came first); municipality and received_at stay the first's."""
        state = later.state if later.state_at >= self.state_at else self.state
        contact, route = self.first_contact_at, self.first_contact_route
        if later.first_contact_at is not None and (
            contact is None or later.first_contact_at < contact
        ):
            contact, route = later.first_contact_at, later.first_contact_route
        return replace(
            self,
            state=state,
            state_at=max(self.state_at, later.state_at),
            first_contact_at=contact,
            first_contact_route=route,
        )


def merge_case_steps(rows: Iterable[CaseRow]) -> list[CaseRow]:
    """One row per signal, as applying the steps one by one in this order would leave it. The
    merge is associative, so the merged row upserted onto a stored one gives what each step
    upserted in turn would have given."""
    merged: dict[UUID, CaseRow] = {}
    for row in rows:
        known = merged.get(row.signal_id)
        merged[row.signal_id] = row if known is None else known.then(row)
    return list(merged.values())
