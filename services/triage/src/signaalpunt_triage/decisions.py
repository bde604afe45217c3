"""From a received signal to the rules' decision: pure, no I/O (the text arrives decrypted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from signaalpunt_contracts import (
    Advice,
    FiredRule,
    Priority,
    RiskGroup,
    Route,
    SignalReceivedV1,
)

from .rules import Facts, Proposal, RuleSet
from .text import age_in_text


def facts_of(signal: SignalReceivedV1, text: str | None, rules: RuleSet) -> Facts:
    """What the rules may look at. Age from the birth year is "turns N this year"."""
    subject = signal.subject
    age = signal.received_at.year - subject.birth_year if subject.birth_year else None
    from_text = False
    if age is None and subject.age_band is None and text:
        # "mijn dochter van 12", "mevrouw (82)": a reporter often writes the age, not a year
        age = age_in_text(text)
        from_text = age is not None
    words = rules.read_text(text)
    return Facts(
        checkbox_cues=frozenset(c.value for c in signal.concern.cues),
        text_cues=frozenset(words),
        text_words=words,
        age_from_text=from_text,
        age=age,
        age_band=subject.age_band.value if subject.age_band else None,
        reported_urgency=signal.reported_urgency.value,
        reporter_kind=signal.reporter.kind.value,
        channel=signal.channel.value,
    )


@dataclass(frozen=True)
class Decision:
    """A complete triage decision as stored and published."""

    route: Route
    priority: Priority
    risk_groups: tuple[RiskGroup, ...]
    needs_review: bool
    advice: tuple[Advice, ...]
    explanation: tuple[FiredRule, ...]
    first_contact_due: datetime
    rules_version: str
    review_due: datetime | None = None
    """Possible acute risk: a coordinator must have reviewed it by then (clock hours)."""


def decide(signal: SignalReceivedV1, text: str | None, rules: RuleSet) -> Decision:
    proposal: Proposal = rules.decide(facts_of(signal, text, rules))
    return Decision(
        route=proposal.route,
        priority=proposal.priority,
        risk_groups=proposal.risk_groups,
        needs_review=proposal.needs_review,
        advice=proposal.advice,
        explanation=proposal.explanation,
        first_contact_due=rules.deadlines.due(proposal.priority, signal.received_at),
        rules_version=rules.version,
        review_due=(
            signal.received_at + timedelta(hours=rules.possible_acute_review_hours)
            if proposal.route is Route.MOGELIJK_ACUUT
            else None
        ),
    )


ACUTE_CUES = frozenset(
    {"wish_to_die", "self_harm", "suicide_risk", "suicide_mention", "suicide_plan", "acute_danger"}
)
POSSIBLE_ACUTE_CUES = frozenset({"death_wish", "hopelessness", "risk_mentioned"})


def acute_matches(decision: Decision) -> tuple[str, ...]:
    """The cue names behind an acute decision, for the alert (never the reporter's words)."""
    seen: list[str] = []
    for fired in decision.explanation:
        for item in fired.matched:
            if item not in seen and (
                item.removeprefix("text:") in ACUTE_CUES or item.startswith("reported_urgency")
            ):
                seen.append(item)
    return tuple(seen)


def possible_acute_matches(decision: Decision) -> tuple[str, ...]:
    """The cue names behind a possible-acute decision, for its alert."""
    seen: list[str] = []
    for fired in decision.explanation:
        for item in fired.matched:
            if item not in seen and item.removeprefix("text:") in POSSIBLE_ACUTE_CUES:
                seen.append(item)
    return tuple(seen)
