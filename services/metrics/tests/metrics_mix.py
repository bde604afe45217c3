"""A large, mixed stream of events for the metrics service: many signals, each received, triaged,
with case steps, notifications (queued, then sent or failed), and for some an acute alert, a
missed deadline, referrals, volunteer matches, gaps; partner refusals; redeliveries (the same
event again) and repeats (the same fact under a new event id); steps that share a moment or
arrive out of order; erasures, and events about an erased signal that come after its erasure.

Deterministic for a seed. Used by the batch-equivalence test (test_metrics_batches.py) and by
bench/metrics_rebuild.py (loaded by path)."""

from __future__ import annotations

import random
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
    SignalErasedV1,
    SignalReceivedV1,
    SignalTriagedV1,
)

MUNICIPALITIES = ("GM0715", "GM0687", "GM0718", "GM0677", "GM1714")
CHANNELS = ("web_form", "phone", "partner_portal", "partner_event")
PARTNER_TYPES = (None, None, "huisarts", "supermarkt", "wmo", "Kapper ")
ROUTES = ("team_eenzaamheid", "team_welzijn", "jeugdteam", "acuut", "mogelijk_acuut")
PRIORITIES = ("acute", "high", "normal", "low")
RISK_GROUPS = ("senior_75_plus", "youth_15_24", "grief_and_loss")
NEEDS = ("buddy", "social_contact", "grief_support", "practical_help")


@dataclass(frozen=True)
class Item:
    """One event on one of the metrics service's topics (`topic` names a MetricsTopics field)."""

    topic: str
    key: str
    event: Envelope[Any]


@dataclass
class Mix:
    """`live`: the stream as the topics carry it; `erasures`: what is erased after it; `late`:
    events about erased signals that come after their erasure."""

    live: list[Item] = field(default_factory=list)
    erasures: list[Item] = field(default_factory=list)
    late: list[Item] = field(default_factory=list)
    signal_ids: list[UUID] = field(default_factory=list)

    def phases(self) -> list[list[Item]]:
        return [self.live, self.erasures, self.late]


class _Builder:
    def __init__(self, rng: random.Random, t0: datetime) -> None:
        self.rng = rng
        self.t0 = t0

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def env(self, data: EventPayload, municipality: str, producer: str) -> Envelope[Any]:
        # the envelope's ids from the seeded generator too: the stream is the same every time
        env = Envelope.new(data, municipality=municipality, producer=producer)
        return env.model_copy(update={"event_id": self.uuid(), "correlation_id": self.uuid()})


def mixed_stream(
    signals: int, *, seed: int = 22, t0: datetime | None = None, extras: bool = True
) -> Mix:
    """`extras`: redeliveries, repeats, ties, out-of-order steps, erasures and late events."""
    rng = random.Random(seed)
    start = t0 or (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    b = _Builder(rng, start)
    mix = Mix()
    out = mix.live

    def chance(p: float) -> bool:
        return rng.random() < p

    for n in range(signals):
        sid, subject = b.uuid(), b.uuid()
        mix.signal_ids.append(sid)
        municipality = rng.choice(MUNICIPALITIES)
        channel = rng.choice(CHANNELS)
        partner = rng.choice(PARTNER_TYPES)
        received_at = start + timedelta(minutes=n % 20_000, seconds=rng.randrange(60))
        key = str(sid)
        reporter: dict[str, Any] = {"kind": "business" if partner else "self"}
        if partner:
            reporter["partner_type"] = partner
        received = SignalReceivedV1.model_validate(
            {
                "signal_id": str(sid),
                "subject_id": str(subject),
                "channel": channel,
                "reporter": reporter,
                "subject": {"age_band": "75_plus"},
                "concern": {"cues": ["lives_alone"]},
                "received_at": received_at.isoformat(),
            }
        )
        out.append(Item("received", key, b.env(received, municipality, "intake")))
        route = rng.choice(ROUTES)
        priority = "acute" if route == "acuut" else rng.choice(PRIORITIES[1:])
        decisions = [(1, route, priority)]
        if chance(0.1):
            decisions.append((2, rng.choice(ROUTES), rng.choice(PRIORITIES)))
        for decision, d_route, d_priority in decisions:
            triaged = SignalTriagedV1.model_validate(
                {
                    "signal_id": str(sid),
                    "subject_id": str(subject),
                    "channel": channel,
                    "decision": decision,
                    "route": d_route,
                    "risk_groups": rng.sample(RISK_GROUPS, rng.randrange(len(RISK_GROUPS) + 1)),
                    "priority": d_priority,
                    "first_contact_due": (received_at + timedelta(days=3)).isoformat(),
                    "needs_review": False,
                    "decided_by": "rules" if decision == 1 else "coordinator",
                    "rules_version": "default@2026-11-01",
                    "received_at": received_at.isoformat(),
                    "decided_at": (received_at + timedelta(seconds=decision * 30)).isoformat(),
                }
            )
            out.append(Item("triaged", key, b.env(triaged, municipality, "triage")))

        # case steps: (step, previous, state, offset)
        steps = [("triaged", "received", "triaged", timedelta(seconds=30))]
        if chance(0.1):
            steps.append(
                (
                    "contact_attempt_failed",
                    "triaged",
                    "triaged",
                    timedelta(hours=rng.randrange(1, 9)),
                )
            )
        if chance(0.7):
            contacted = timedelta(hours=rng.randrange(1, 80))
            steps.append(("reporter_contacted", "triaged", "in_intake", contacted))
            if chance(0.5):
                # a tie now and then: intake done in the same second as the contact
                done = contacted if extras and chance(0.2) else contacted + timedelta(days=1)
                steps.append(("intake_done", "in_intake", "referred", done))
                if chance(0.4):
                    steps.append(("closed", "referred", "closed", done + timedelta(days=3)))
        elif chance(0.2):
            steps.append(("not_reachable", "triaged", "closed", timedelta(days=4)))
        if extras and len(steps) > 2 and chance(0.15):
            # out of order: the last step recorded reaches the topic before the one before it
            steps[-1], steps[-2] = steps[-2], steps[-1]
        for name, previous, state, offset in steps:
            step = CaseStepRecordedV1.model_validate(
                {
                    "signal_id": str(sid),
                    "step": name,
                    "previous_state": previous,
                    "state": state,
                    "route": route,
                    "close_reason": "support_arranged" if state == "closed" else None,
                    "recorded_by": "staff:desk-1",
                    "received_at": received_at.isoformat(),
                    "recorded_at": (received_at + offset).isoformat(),
                }
            )
            out.append(Item("steps", key, b.env(step, municipality, "triage")))

        for template, kind in (
            ("reporter_acknowledgement", "reporter"),
            ("team_new_signal", "team"),
        ):
            nid = b.uuid()
            final = "failed" if chance(0.05) else "sent"
            for status in ("queued", final):
                note = NotificationV1.model_validate(
                    {
                        "notification_id": str(nid),
                        "reason_event_id": str(b.uuid()),
                        "reason_type": "signaalpunt.signal.received",
                        "signal_id": str(sid),
                        "rule": "r",
                        "template": template,
                        "language": "nl",
                        "channel": rng.choice(("email", "sms")),
                        "recipient_kind": kind,
                        "status": status,
                        "attempts": 1,
                        "at": (received_at + timedelta(seconds=5)).isoformat(),
                    }
                )
                out.append(Item("notifications", str(nid), b.env(note, municipality, "notifier")))

        if route == "acuut" or chance(0.02):
            alert = AcuteSignalAlertV1.model_validate(
                {
                    "signal_id": str(sid),
                    "subject_id": str(subject),
                    "matched": ["wish_to_die"],
                    "first_contact_due": (received_at + timedelta(hours=1)).isoformat(),
                    "raised_at": (received_at + timedelta(seconds=5)).isoformat(),
                }
            )
            out.append(Item("acute_alerts", key, b.env(alert, municipality, "triage")))
        if route == "mogelijk_acuut":
            possible = PossibleAcuteAlertV1.model_validate(
                {
                    "signal_id": str(sid),
                    "subject_id": str(subject),
                    "matched": ["text:death_wish"],
                    "review_due": (received_at + timedelta(hours=4)).isoformat(),
                    "raised_at": (received_at + timedelta(seconds=5)).isoformat(),
                }
            )
            out.append(Item("possible_acute_alerts", key, b.env(possible, municipality, "triage")))
            if chance(0.3):
                missed = PossibleAcuteReviewMissedV1.model_validate(
                    {
                        "signal_id": str(sid),
                        "route": "mogelijk_acuut",
                        "review_due": (received_at + timedelta(hours=4)).isoformat(),
                        "detected_at": (received_at + timedelta(hours=4, minutes=1)).isoformat(),
                    }
                )
                out.append(Item("reviews_missed", key, b.env(missed, municipality, "triage")))
        if chance(0.25):
            deadline = DeadlineMissedV1.model_validate(
                {
                    "signal_id": str(sid),
                    "route": route,
                    "priority": priority,
                    "state": "triaged",
                    "first_contact_due": (received_at + timedelta(days=3)).isoformat(),
                    "detected_at": (received_at + timedelta(days=3, minutes=1)).isoformat(),
                }
            )
            out.append(Item("deadline_missed", key, b.env(deadline, municipality, "triage")))
        if chance(0.2):
            rid = b.uuid()
            path = ["proposed", "sent", rng.choice(("accepted", "declined", "no_capacity"))]
            for version, status in enumerate(path, start=1):
                referral = ReferralUpdatedV1.model_validate(
                    {
                        **ReferralUpdatedV1.examples[0],
                        "referral_id": str(rid),
                        "signal_id": str(sid),
                        "status": status,
                        "previous_status": None,
                        "version": version,
                        "escalated": status == "sent" and chance(0.1),
                        "changed_at": (
                            received_at + timedelta(days=2, minutes=version)
                        ).isoformat(),
                    }
                )
                out.append(Item("referrals", key, b.env(referral, municipality, "referral")))
        if chance(0.05):
            gap = OfferGapV1.model_validate(
                {
                    "signal_id": str(sid),
                    "need": rng.choice(NEEDS),
                    "risk_groups": ["grief_and_loss"],
                    "reason": rng.choice(("no_eligible_offer", "all_full")),
                    "ruled_out": {"need": 12},
                    "detected_at": (received_at + timedelta(days=2)).isoformat(),
                }
            )
            out.append(Item("gaps", key, b.env(gap, municipality, "referral")))
        if chance(0.1):
            request = b.uuid()
            if chance(0.2):
                path_m = [(1, 1, "unmatched")]
            else:
                path_m = [(1, 1, "proposed"), (1, 2, "accepted"), (1, 3, "active")]
            for attempt, version, status in path_m:
                change = MatchUpdatedV1.model_validate(
                    {
                        "match_request_id": str(request),
                        "match_id": str(b.uuid()) if status != "unmatched" else None,
                        "signal_id": str(sid),
                        "subject_id": str(subject),
                        "status": status,
                        "version": version,
                        "attempt": attempt,
                        "needs": [rng.choice(NEEDS)],
                        "changed_by": "matching",
                        "changed_at": (
                            received_at + timedelta(days=3, hours=attempt, minutes=version)
                        ).isoformat(),
                        "requested_at": (received_at + timedelta(days=3)).isoformat(),
                        "failed_constraint": "distance" if status == "unmatched" else None,
                    }
                )
                out.append(Item("matches", key, b.env(change, municipality, "matching")))
        if chance(0.01):
            refusal = PartnerSignalRejectedV1.model_validate(
                {
                    "partner": "urn:signaalpunt:partner:huisartsen-de-schelde",
                    "partner_event_id": f"hap-{n}",
                    "reason": "outside_consortium",
                    "detail": "postcode area 1012 is outside this signal point",
                    "rejected_at": received_at.isoformat(),
                }
            )
            out.append(Item("rejections", "partner", b.env(refusal, municipality, "intake")))

        if extras and chance(0.02):
            scope = "person" if chance(0.8) else "reporter"
            erased = SignalErasedV1.model_validate(
                {
                    "erasure_id": str(b.uuid()),
                    "signal_id": str(sid),
                    "scope": scope,
                    "subject_id": str(subject),
                    "reason": "data_subject_request",
                    "erased_at": (received_at + timedelta(days=10)).isoformat(),
                }
            )
            mix.erasures.append(Item("erased", key, b.env(erased, municipality, "intake")))
            # after the erasure: a step (closed because of it) and a referral withdrawn
            late = CaseStepRecordedV1.model_validate(
                {
                    "signal_id": str(sid),
                    "step": "closed",
                    "previous_state": "triaged",
                    "state": "closed",
                    "route": route,
                    "close_reason": "support_arranged",
                    "recorded_by": "staff:desk-1",
                    "received_at": received_at.isoformat(),
                    "recorded_at": (received_at + timedelta(days=10)).isoformat(),
                }
            )
            mix.late.append(Item("steps", key, b.env(late, municipality, "triage")))

    if extras:
        # redeliveries (the same event: the inbox drops them) and repeats (the same fact under
        # another event id: the rows' keys keep them out), each right after the original
        repeated: list[Item] = []
        for item in out:
            repeated.append(item)
            if chance(0.03):
                repeated.append(item)
            elif chance(0.03):
                again = item.event.model_copy(update={"event_id": b.uuid()})
                repeated.append(Item(item.topic, item.key, again))
        mix.live = repeated
    return mix
