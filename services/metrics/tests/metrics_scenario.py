"""A scripted stream of events for the metrics tests, and the figures it must produce.

Two municipalities, five signals through four channels, a coordinator's change, an acute alert
picked up within the hour and one still waiting, a missed deadline, notifications (one queued
then sent) and a partner refusal that arrives twice under different event ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    DeadlineMissedV1,
    Envelope,
    EventPayload,
    MatchUpdatedV1,
    NotificationV1,
    OfferGapV1,
    PartnerSignalRejectedV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    ReferralUpdatedV1,
    SignalReceivedV1,
    SignalTriagedV1,
)

TERNEUZEN, MIDDELBURG = "GM0715", "GM0687"
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)


def _id(n: int) -> UUID:
    return UUID(f"01a20900-0000-7000-8000-{n:012d}")


@dataclass(frozen=True)
class Step:
    """One event on one of the metrics service's topics (`topic` names a MetricsTopics field)."""

    topic: str
    key: str
    event: Envelope[Any]


def _env(data: EventPayload, municipality: str, producer: str) -> Envelope[Any]:
    return Envelope.new(data, municipality=municipality, producer=producer)


def received(
    n: int,
    municipality: str,
    channel: str,
    partner_type: str | None = None,
    at: datetime | None = None,
) -> Step:
    reporter: dict[str, Any] = {"kind": "business" if partner_type else "self"}
    if partner_type:
        reporter["partner_type"] = partner_type
    data = SignalReceivedV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "subject_id": str(_id(100 + n)),
            "channel": channel,
            "reporter": reporter,
            "subject": {"age_band": "75_plus"},
            "concern": {"cues": ["lives_alone"]},
            "received_at": (at or T0).isoformat(),
        }
    )
    return Step("received", str(_id(n)), _env(data, municipality, "intake"))


def triaged(
    n: int,
    municipality: str,
    channel: str,
    *,
    decision: int,
    route: str,
    priority: str,
    risk_groups: tuple[str, ...] = (),
    due: timedelta = timedelta(days=3),
    after: timedelta = timedelta(seconds=30),
) -> Step:
    data = SignalTriagedV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "subject_id": str(_id(100 + n)),
            "channel": channel,
            "decision": decision,
            "route": route,
            "risk_groups": list(risk_groups),
            "priority": priority,
            "first_contact_due": (T0 + due).isoformat(),
            "needs_review": False,
            "decided_by": "rules" if decision == 1 else "coordinator",
            "rules_version": "default@2026-11-01",
            "received_at": T0.isoformat(),
            "decided_at": (T0 + after).isoformat(),
        }
    )
    return Step("triaged", str(_id(n)), _env(data, municipality, "triage"))


def step(
    n: int, municipality: str, step_name: str, previous: str, state: str, route: str, at: timedelta
) -> Step:
    data = CaseStepRecordedV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "step": step_name,
            "previous_state": previous,
            "state": state,
            "route": route,
            "close_reason": "support_arranged" if state == "closed" else None,
            "recorded_by": "staff:desk-1",
            "received_at": T0.isoformat(),
            "recorded_at": (T0 + at).isoformat(),
        }
    )
    return Step("steps", str(_id(n)), _env(data, municipality, "triage"))


def acute(n: int, municipality: str) -> Step:
    data = AcuteSignalAlertV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "subject_id": str(_id(100 + n)),
            "matched": ["wish_to_die"],
            "first_contact_due": (T0 + timedelta(hours=1)).isoformat(),
            "raised_at": (T0 + timedelta(seconds=5)).isoformat(),
        }
    )
    return Step("acute_alerts", str(_id(n)), _env(data, municipality, "triage"))


def possible_acute(n: int, municipality: str) -> Step:
    data = PossibleAcuteAlertV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "subject_id": str(_id(100 + n)),
            "matched": ["text:death_wish"],
            "review_due": (T0 + timedelta(hours=4)).isoformat(),
            "raised_at": (T0 + timedelta(seconds=5)).isoformat(),
        }
    )
    return Step("possible_acute_alerts", str(_id(n)), _env(data, municipality, "triage"))


def review_missed(n: int, municipality: str) -> Step:
    data = PossibleAcuteReviewMissedV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "route": "mogelijk_acuut",
            "review_due": (T0 + timedelta(hours=4)).isoformat(),
            "detected_at": (T0 + timedelta(hours=4, minutes=1)).isoformat(),
        }
    )
    return Step("reviews_missed", str(_id(n)), _env(data, municipality, "triage"))


def deadline_missed(n: int, municipality: str, route: str, priority: str) -> Step:
    data = DeadlineMissedV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "route": route,
            "priority": priority,
            "state": "triaged",
            "first_contact_due": (T0 + timedelta(days=1)).isoformat(),
            "detected_at": (T0 + timedelta(days=1, minutes=1)).isoformat(),
        }
    )
    return Step("deadline_missed", str(_id(n)), _env(data, municipality, "triage"))


def notification(n: int, template: str, channel: str, status: str, kind: str) -> Step:
    data = NotificationV1.model_validate(
        {
            "notification_id": str(_id(500 + n)),
            "reason_event_id": str(_id(600 + n)),
            "reason_type": "signaalpunt.signal.received",
            "signal_id": str(_id(1)),
            "rule": "r",
            "template": template,
            "language": "nl",
            "channel": channel,
            "recipient_kind": kind,
            "status": status,
            "attempts": 1,
            "at": T0.isoformat(),
        }
    )
    return Step("notifications", str(_id(500 + n)), _env(data, TERNEUZEN, "notifications"))


def rejection(partner_event_id: str) -> Step:
    data = PartnerSignalRejectedV1.model_validate(
        {
            "partner": "urn:signaalpunt:partner:huisartsen-de-schelde",
            "partner_event_id": partner_event_id,
            "reason": "outside_consortium",
            "detail": "postcode area 1012 is outside this signal point",
            "rejected_at": T0.isoformat(),
        }
    )
    return Step(
        "rejections",
        "urn:signaalpunt:partner:huisartsen-de-schelde",
        _env(data, TERNEUZEN, "intake"),
    )


def referral(n: int, version: int, status: str, *, escalated: bool = False) -> Step:
    """Referral 900+n of signal n (Terneuzen)."""
    data = ReferralUpdatedV1.model_validate(
        {
            **ReferralUpdatedV1.examples[0],
            "referral_id": str(_id(900 + n)),
            "signal_id": str(_id(n)),
            "status": status,
            "previous_status": None,
            "version": version,
            "escalated": escalated,
            "changed_at": (T0 + timedelta(days=1, minutes=version)).isoformat(),
        }
    )
    return Step("referrals", str(_id(n)), _env(data, TERNEUZEN, "referral"))


def gap(n: int, need: str, reason: str) -> Step:
    data = OfferGapV1.model_validate(
        {
            "signal_id": str(_id(n)),
            "need": need,
            "risk_groups": ["grief_and_loss"],
            "reason": reason,
            "ruled_out": {"need": 12},
            "detected_at": (T0 + timedelta(days=1)).isoformat(),
        }
    )
    return Step("gaps", str(_id(n)), _env(data, TERNEUZEN, "referral"))


def match(n: int, attempt: int, version: int, status: str, **values: Any) -> Step:
    """A change of signal n's match request 800+n (Terneuzen)."""
    data = MatchUpdatedV1.model_validate(
        {
            "match_request_id": str(_id(800 + n)),
            "match_id": str(_id(810 + attempt)) if status != "unmatched" else None,
            "signal_id": str(_id(n)),
            "subject_id": str(_id(100 + n)),
            "status": status,
            "version": version,
            "attempt": attempt,
            "needs": ["buddy"],
            "changed_by": "matching",
            "changed_at": (T0 + timedelta(days=1, hours=attempt, minutes=version)).isoformat(),
            "requested_at": (T0 + timedelta(days=1)).isoformat(),
            **values,
        }
    )
    return Step("matches", str(_id(n)), _env(data, TERNEUZEN, "matching"))


@dataclass
class Scenario:
    first: list[Step] = field(default_factory=list)
    second: list[Step] = field(default_factory=list)


def scenario() -> Scenario:
    s = Scenario()
    # S1: Terneuzen web form, team welzijn, contacted after a day
    s.first += [
        received(1, TERNEUZEN, "web_form"),
        triaged(
            1,
            TERNEUZEN,
            "web_form",
            decision=1,
            route="team_welzijn",
            priority="normal",
            risk_groups=("senior_75_plus",),
        ),
        step(1, TERNEUZEN, "triaged", "received", "triaged", "team_welzijn", timedelta(seconds=30)),
    ]
    # S2: Terneuzen GP through the portal; the coordinator makes it acute; deadline missed
    s.first += [
        received(2, TERNEUZEN, "partner_portal", "huisarts"),
        triaged(
            2,
            TERNEUZEN,
            "partner_portal",
            decision=1,
            route="team_eenzaamheid",
            priority="normal",
            risk_groups=("grief_and_loss", "senior_75_plus"),
            due=timedelta(days=1),
        ),
        step(
            2,
            TERNEUZEN,
            "triaged",
            "received",
            "triaged",
            "team_eenzaamheid",
            timedelta(seconds=30),
        ),
    ]
    # S3: Middelburg phone, acute, picked up within the hour, then intake and closed
    s.first += [
        received(3, MIDDELBURG, "phone"),
        triaged(
            3,
            MIDDELBURG,
            "phone",
            decision=1,
            route="acuut",
            priority="acute",
            risk_groups=("youth_15_24",),
            due=timedelta(hours=1),
        ),
        acute(3, MIDDELBURG),
        step(3, MIDDELBURG, "triaged", "received", "triaged", "acuut", timedelta(seconds=30)),
    ]
    s.first += [
        notification(1, "reporter_acknowledgement", "email", "sent", "reporter"),
        notification(2, "coordinator_acute_alert", "sms", "queued", "coordinator"),
        rejection("hap-2026-000123"),
        # S1 gets a help question: a referral proposed and sent; S2's grief need meets nothing
        referral(1, 1, "proposed"),
        referral(1, 2, "sent"),
        gap(2, "grief_support", "no_eligible_offer"),
        # S1's buddy need: the first volunteer declines, the second is asked; S2's finds nobody
        match(1, 1, 1, "proposed"),
        match(1, 1, 2, "declined"),
        match(1, 2, 1, "proposed"),
        match(2, 1, 1, "unmatched", failed_constraint="distance"),
    ]
    # --- after a restart
    s.second += [
        step(
            1,
            TERNEUZEN,
            "reporter_contacted",
            "triaged",
            "in_intake",
            "team_welzijn",
            timedelta(days=1),
        ),
        triaged(
            2,
            TERNEUZEN,
            "partner_portal",
            decision=2,
            route="acuut",
            priority="high",
            risk_groups=("grief_and_loss",),
            due=timedelta(days=1),
            after=timedelta(hours=2),
        ),
        deadline_missed(2, TERNEUZEN, "team_eenzaamheid", "normal"),
        step(
            3,
            MIDDELBURG,
            "reporter_contacted",
            "triaged",
            "in_intake",
            "acuut",
            timedelta(minutes=30),
        ),
        step(3, MIDDELBURG, "intake_done", "in_intake", "referred", "acuut", timedelta(hours=5)),
        step(3, MIDDELBURG, "closed", "referred", "closed", "acuut", timedelta(days=1)),
        # S4: Middelburg supermarket through a partner system: received, nothing else yet
        received(4, MIDDELBURG, "partner_event", "supermarkt"),
        # (its possible-acute alert, and nobody reviewed it in time)
        possible_acute(4, MIDDELBURG),
        review_missed(4, MIDDELBURG),
        # S5: Terneuzen web form, acute, nobody has called yet
        received(5, TERNEUZEN, "web_form"),
        triaged(
            5,
            TERNEUZEN,
            "web_form",
            decision=1,
            route="acuut",
            priority="acute",
            due=timedelta(hours=1),
        ),
        acute(5, TERNEUZEN),
        notification(2, "coordinator_acute_alert", "sms", "sent", "coordinator"),
        notification(3, "partner_refusal", "webhook", "failed", "partner"),
        rejection("hap-2026-000123"),  # the partner sent the same event again: one refusal
        referral(1, 3, "sent", escalated=True),  # not answered in time
        referral(1, 4, "accepted"),
        referral(1, 5, "completed"),
        match(1, 2, 1, "proposed"),  # redelivered: counted once
        match(1, 2, 2, "accepted"),
        # the first meeting: requested (T0 + 1 day) → active (T0 + 1 day 2 h 3 min)
        match(1, 2, 3, "active"),
        # events from a matching service before requested_at: from the request's first change
        match(3, 1, 1, "proposed", requested_at=None),
        match(3, 1, 2, "active", requested_at=None),  # a minute later
    ]
    return s


Sample = tuple[str, frozenset[tuple[str, str]]]


def key(name: str, **labels: str) -> Sample:
    return name, frozenset(labels.items())


T, M = TERNEUZEN, MIDDELBURG

_FIRST_PER_MUNICIPALITY: dict[Sample, float] = {
    key(
        "signaalpunt_signals_received_total",
        municipality=T,
        channel="web_form",
        partner_type="none",
    ): 1,
    key(
        "signaalpunt_signals_received_total",
        municipality=T,
        channel="partner_portal",
        partner_type="huisarts",
    ): 1,
    key(
        "signaalpunt_signals_received_total", municipality=M, channel="phone", partner_type="none"
    ): 1,
    key("signaalpunt_acute_alerts_total", municipality=M): 1,
    key(
        "signaalpunt_notifications_total",
        municipality=T,
        template="coordinator_acute_alert",
        channel="sms",
        status="queued",
    ): 1,
    key("signaalpunt_partner_rejections_total", municipality=T, reason="outside_consortium"): 1,
    key("signaalpunt_referrals_total", municipality=T, status="sent"): 1,
    key("signaalpunt_volunteer_matches_total", municipality=T, status="proposed"): 2,
    key("signaalpunt_volunteer_matches_total", municipality=T, status="declined"): 1,
    key("signaalpunt_unmatched_requests_total", municipality=T, constraint="distance"): 1,
    key(
        "signaalpunt_offer_gaps_total",
        municipality=T,
        need="grief_support",
        reason="no_eligible_offer",
    ): 1,
}

_FINAL_PER_MUNICIPALITY: dict[Sample, float] = {
    key("signaalpunt_volunteer_matches_total", municipality=T, status="proposed"): 3,
    key("signaalpunt_volunteer_matches_total", municipality=T, status="declined"): 1,
    key("signaalpunt_volunteer_matches_total", municipality=T, status="accepted"): 1,
    key("signaalpunt_volunteer_matches_total", municipality=T, status="active"): 2,
    key("signaalpunt_volunteer_matches_total", municipality=M, status="accepted"): 0,
    key("signaalpunt_unmatched_requests_total", municipality=T, constraint="distance"): 1,
    # requested → active: 2 h 3 min, and 60 s from the first change of a request whose events
    # carry no requested_at (S2's unmatched request never became active: not counted)
    key("signaalpunt_match_time_to_active_seconds_count", municipality=T, need="buddy"): 2,
    key(
        "signaalpunt_match_time_to_active_seconds_bucket", municipality=T, need="buddy", le="3600.0"
    ): 1,
    key(
        "signaalpunt_match_time_to_active_seconds_bucket",
        municipality=T,
        need="buddy",
        le="86400.0",
    ): 2,
    key("signaalpunt_match_time_to_active_seconds_sum", municipality=T, need="buddy"): 7440,
    key("signaalpunt_match_time_to_active_seconds_count", municipality=T, need="practical_help"): 0,
    key("signaalpunt_referrals_total", municipality=T, status="proposed"): 1,
    key("signaalpunt_referrals_total", municipality=T, status="sent"): 1,  # once, escalated too
    key("signaalpunt_referrals_total", municipality=T, status="accepted"): 1,
    key("signaalpunt_referrals_total", municipality=T, status="completed"): 1,
    key("signaalpunt_referrals_total", municipality=M, status="completed"): 0,
    key("signaalpunt_referral_escalations_total", municipality=T): 1,
    key(
        "signaalpunt_offer_gaps_total",
        municipality=T,
        need="grief_support",
        reason="no_eligible_offer",
    ): 1,
    key(
        "signaalpunt_signals_received_total",
        municipality=T,
        channel="web_form",
        partner_type="none",
    ): 2,
    key(
        "signaalpunt_signals_received_total",
        municipality=T,
        channel="partner_portal",
        partner_type="huisarts",
    ): 1,
    key(
        "signaalpunt_signals_received_total", municipality=M, channel="phone", partner_type="none"
    ): 1,
    key(
        "signaalpunt_signals_received_total",
        municipality=M,
        channel="partner_event",
        partner_type="supermarkt",
    ): 1,
    key(
        "signaalpunt_signals_triaged_total", municipality=T, route="team_welzijn", priority="normal"
    ): 1,
    key(
        "signaalpunt_signals_triaged_total",
        municipality=T,
        route="team_eenzaamheid",
        priority="normal",
    ): 1,
    key("signaalpunt_signals_triaged_total", municipality=T, route="acuut", priority="acute"): 1,
    key("signaalpunt_signals_triaged_total", municipality=M, route="acuut", priority="acute"): 1,
    key("signaalpunt_signals_risk_group_total", municipality=T, risk_group="senior_75_plus"): 2,
    key("signaalpunt_signals_risk_group_total", municipality=T, risk_group="grief_and_loss"): 1,
    key("signaalpunt_signals_risk_group_total", municipality=M, risk_group="youth_15_24"): 1,
    key("signaalpunt_signals_current_route", municipality=T, route="acuut"): 2,
    key("signaalpunt_signals_current_route", municipality=T, route="team_welzijn"): 1,
    key("signaalpunt_signals_current_route", municipality=M, route="acuut"): 1,
    key("signaalpunt_triage_decisions_total", municipality=T, decided_by="rules"): 3,
    key("signaalpunt_triage_decisions_total", municipality=T, decided_by="coordinator"): 1,
    key("signaalpunt_triage_decisions_total", municipality=M, decided_by="rules"): 1,
    key("signaalpunt_triage_overrides_total", municipality=T, route="acuut"): 1,
    key("signaalpunt_triage_overrides_total", municipality=T, route="team_welzijn"): 0,
    key("signaalpunt_signals_open", municipality=T, state="in_intake"): 1,
    key("signaalpunt_signals_open", municipality=T, state="triaged"): 2,
    key("signaalpunt_signals_open", municipality=M, state="received"): 1,
    key("signaalpunt_signals_open", municipality=M, state="referred"): 0,
    key("signaalpunt_signals_overdue", municipality=T, route="acuut", priority="high"): 1,
    key("signaalpunt_signals_overdue", municipality=T, route="acuut", priority="acute"): 1,
    key(
        "signaalpunt_deadlines_missed_total",
        municipality=T,
        route="team_eenzaamheid",
        priority="normal",
    ): 1,
    key("signaalpunt_acute_alerts_total", municipality=M): 1,
    key("signaalpunt_acute_alerts_total", municipality=T): 1,
    key("signaalpunt_possible_acute_alerts_total", municipality=M): 1,
    key("signaalpunt_possible_acute_alerts_total", municipality=T): 0,
    key("signaalpunt_possible_acute_reviews_missed_total", municipality=M): 1,
    key("signaalpunt_possible_acute_reviews_missed_total", municipality=T): 0,
    key("signaalpunt_acute_alerts_picked_up_within_hour_total", municipality=M): 1,
    key("signaalpunt_acute_alerts_picked_up_within_hour_total", municipality=T): 0,
    key("signaalpunt_acute_alerts_waiting", municipality=M): 0,
    key("signaalpunt_acute_alerts_waiting", municipality=T): 1,
    key(
        "signaalpunt_signal_time_to_first_contact_seconds_count",
        municipality=T,
        route="team_welzijn",
    ): 1,
    key("signaalpunt_signal_time_to_first_contact_seconds_count", municipality=M, route="acuut"): 1,
    key(
        "signaalpunt_signal_time_to_first_contact_seconds_bucket",
        municipality=M,
        route="acuut",
        le="3600.0",
    ): 1,
    key(
        "signaalpunt_signal_time_to_first_contact_seconds_bucket",
        municipality=T,
        route="team_welzijn",
        le="3600.0",
    ): 0,
    key(
        "signaalpunt_signal_time_to_first_contact_seconds_bucket",
        municipality=T,
        route="team_welzijn",
        le="86400.0",
    ): 1,
    key(
        "signaalpunt_signal_time_to_first_contact_seconds_sum", municipality=T, route="team_welzijn"
    ): 86400,
    key("signaalpunt_signal_time_to_triage_seconds_count", municipality=T, channel="web_form"): 2,
    key(
        "signaalpunt_signal_time_to_triage_seconds_bucket",
        municipality=T,
        channel="web_form",
        le="60.0",
    ): 2,
    key(
        "signaalpunt_signal_time_to_triage_seconds_bucket",
        municipality=T,
        channel="web_form",
        le="10.0",
    ): 0,
    key(
        "signaalpunt_notifications_total",
        municipality=T,
        template="reporter_acknowledgement",
        channel="email",
        status="sent",
    ): 1,
    key(
        "signaalpunt_notifications_total",
        municipality=T,
        template="coordinator_acute_alert",
        channel="sms",
        status="queued",
    ): 1,
    key(
        "signaalpunt_notifications_total",
        municipality=T,
        template="coordinator_acute_alert",
        channel="sms",
        status="sent",
    ): 1,
    key(
        "signaalpunt_notifications_total",
        municipality=T,
        template="partner_refusal",
        channel="webhook",
        status="failed",
    ): 1,
    key("signaalpunt_partner_rejections_total", municipality=T, reason="outside_consortium"): 1,
}


def consortium(per_municipality: dict[Sample, float]) -> dict[Sample, float]:
    """The figures `/metrics` publishes: the scenario's facts per municipality added up (no
    running figure is published per municipality, docs/metrics.md)."""
    out: dict[Sample, float] = {}
    for (name, labels), value in per_municipality.items():
        sample = (name, frozenset((k, v) for k, v in labels if k != "municipality"))
        out[sample] = out.get(sample, 0) + value
    return out


EXPECTED_FIRST = consortium(_FIRST_PER_MUNICIPALITY)
EXPECTED_FINAL = consortium(_FINAL_PER_MUNICIPALITY)
