"""What the two lanes of triage tell each other in one process (`DecidedAhead`): the acute lane's
decisions for triage in turn, and the signals triage in turn decided first, which the acute lane
then passes by rather than reading them a second time."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from signaalpunt_contracts import Priority, Route
from signaalpunt_triage.decisions import Decision
from signaalpunt_triage.handlers import DecidedAhead

DECISION = Decision(
    route=Route.TEAM_WELZIJN,
    priority=Priority.NORMAL,
    risk_groups=(),
    needs_review=False,
    advice=(),
    explanation=(),
    first_contact_due=datetime(2026, 12, 7, tzinfo=UTC),
    rules_version="test",
)


def test_the_acute_lane_passes_by_only_what_triage_in_turn_decided_first() -> None:
    lanes = DecidedAhead()
    first, other = uuid4(), uuid4()
    lanes.decided_in_turn(first)
    assert lanes.passed_by(first)
    assert not lanes.passed_by(first), "passed by once: a redelivery is read again"
    assert not lanes.passed_by(other), "a signal triage in turn has not decided is read"


def test_decisions_ahead_are_taken_once() -> None:
    lanes = DecidedAhead()
    event = uuid4()
    lanes.put(event, DECISION)
    assert lanes.take(event) == DECISION
    assert lanes.take(event) is None


def test_both_memories_are_bounded_oldest_first() -> None:
    lanes = DecidedAhead(size=3)
    events = [uuid4() for _ in range(5)]
    for event in events:
        lanes.decided_in_turn(event)
        lanes.put(event, DECISION)
    assert [lanes.passed_by(e) for e in events] == [False, False, True, True, True]
    assert [lanes.take(e) is not None for e in events] == [False, False, True, True, True]
