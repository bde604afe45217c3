"""The topic registry: every Kafka topic of Signaalpunt, described once.

`make topics` creates and updates the topics from this registry; services subscribe and publish
through it; the generated AsyncAPI document is built from it. A topic that is not here does not
exist (the broker has auto-creation off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .envelope import EventPayload
from .erasure import SignalErasedV1
from .matches import MatchUpdatedV1, VolunteerVogExpiringV1
from .notifications import NotificationV1
from .partner import (
    PartnerListedV1,
    PartnerSignalRejectedV1,
    PartnerSignalV1,
    partner_signal_message,
)
from .probe import ProbeV1
from .referrals import MatchRequestedV1, OfferGapV1, ReferralUpdatedV1
from .signals import SignalReceivedV1
from .triage import (
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    DeadlineMissedV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    SignalTriagedV1,
)

_TOPIC_NAME = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\.v\d+$")
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]*$")

DEAD_LETTER_RETENTION = timedelta(days=28)
"""Long enough for operators to notice, fix and replay after a holiday weekend."""

LANE_GROUPS: dict[str, str] = {"triage-acute": "triage"}
"""Consumer groups a service reads with besides its own (a second lane on the same topic), by
the service whose principal reads with them: triage's acute lane reads `signals.received.v1`
beside triage itself, so an acute signal is not decided behind a backlog (docs/performance.md)."""


def group_service(group: str) -> str:
    """The service that reads with consumer group `group` (groups are named after their service,
    lanes aside)."""
    return LANE_GROUPS.get(group, group)


@dataclass(frozen=True)
class Topic:
    """One topic: what is on it, who writes, who reads, and how it is stored."""

    name: str
    value: type[EventPayload]
    key: str
    """What the key is, e.g. "signal_id" (never personal data); one key's events stay in order."""
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    """Consumer groups; each gets its own dead-letter topic."""
    partitions: int = 6
    retention: timedelta = timedelta(days=7)
    config: dict[str, str] = field(default_factory=dict)
    """Extra topic configuration (e.g. cleanup.policy) beyond retention."""
    wire_message: dict[str, Any] | None = None
    """For a topic whose messages are not `Envelope[value]` (what partners send): the AsyncAPI
    message as it really is on the wire."""

    def __post_init__(self) -> None:
        if not _TOPIC_NAME.match(self.name):
            raise ValueError(f"topic name {self.name!r} must look like domain.thing.v1")
        for group in self.consumers:
            if not _GROUP_NAME.match(group):
                raise ValueError(f"consumer group {group!r} of {self.name} must be kebab-case")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name} needs at least one partition")

    def dead_letter_topic(self, group: str) -> str:
        """`<topic>.dlq.<group>`: where `group` parks the events it could not handle."""
        return f"{self.name}.dlq.{group}"

    @property
    def dead_letter_topics(self) -> dict[str, str]:
        return {group: self.dead_letter_topic(group) for group in self.consumers}

    def topic_config(self) -> dict[str, str]:
        return {"retention.ms": str(int(self.retention.total_seconds() * 1000)), **self.config}


@dataclass(frozen=True)
class TopicSpec:
    """What the broker needs to create one topic (a registry topic or a dead-letter topic)."""

    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicRegistry:
    topics: tuple[Topic, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.topics]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"topics registered twice: {sorted(duplicates)}")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.topics)

    def get(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(f"no topic {name!r} in the registry")

    def broker_topics(self) -> list[TopicSpec]:
        """Every topic the broker must have: the registered ones and their dead-letter topics."""
        specs: list[TopicSpec] = []
        for topic in self.topics:
            specs.append(TopicSpec(topic.name, topic.partitions, topic.topic_config()))
            for dlq in topic.dead_letter_topics.values():
                # one partition: dead letters are few, and replay then keeps their original order
                retention_ms = str(int(DEAD_LETTER_RETENTION.total_seconds() * 1000))
                specs.append(TopicSpec(dlq, 1, {"retention.ms": retention_ms}))
        return specs


PLATFORM_PROBE = Topic(
    name="platform.probe.v1",
    value=ProbeV1,
    key="run_id",
    description="Probe events that prove a pipeline end to end (outbox → Kafka → inbox).",
    producers=("any",),
    consumers=("probe-receiver",),
    partitions=3,
    retention=timedelta(days=1),
)

SIGNALS_RECEIVED = Topic(
    name="signals.received.v1",
    value=SignalReceivedV1,
    key="signal_id",
    description="A signal (melding) was received through any channel and is durable.",
    producers=("intake",),
    consumers=("triage", "triage-acute", "notifications", "metrics"),
    partitions=6,
    retention=timedelta(days=14),
)

PARTNER_SIGNALS = Topic(
    name="partner.signals.v1",
    value=PartnerSignalV1,
    key="the partner's URN (ce_source)",
    description=(
        "Signals from partner systems as CloudEvents in Kafka binary mode; each value is a JWE "
        "to intake's public key (application/jose), so the topic holds ciphertext only."
    ),
    producers=("partners",),
    consumers=("intake",),
    partitions=6,
    retention=timedelta(days=1),
    # intake deletes what it has taken (DeleteRecords); hourly segments let the broker free
    # the disk within about an hour of that, not only when a day's segment rolls
    config={"segment.ms": str(60 * 60 * 1000)},
    wire_message=partner_signal_message(),
)

PARTNER_REJECTIONS = Topic(
    name="partner.signals.rejections.v1",
    value=PartnerSignalRejectedV1,
    key="the partner's URN",
    description=(
        "Why a partner's signal was refused, by the partner's own event id: every partner's "
        "refusals, for the signal point's own services (webhooks, metrics); partners read their "
        "own topic, partner.<slug>.rejections.v1, not this one."
    ),
    producers=("intake",),
    consumers=("notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=30),
)

SIGNALS_TRIAGED = Topic(
    name="signals.triaged.v1",
    value=SignalTriagedV1,
    key="signal_id",
    description=(
        "A triage decision: route, risk groups, priority, first-contact deadline and the rules "
        "that fired; from the rules first, then from every coordinator change."
    ),
    producers=("triage",),
    consumers=("notifications", "metrics"),
    partitions=6,
    retention=timedelta(days=14),
)

SIGNALS_ACUTE_ALERTS = Topic(
    name="signals.acute-alerts.v1",
    value=AcuteSignalAlertV1,
    key="signal_id",
    description="An acute-risk signal: alert the coordinator on duty at once.",
    producers=("triage",),
    consumers=("notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=14),
)

SIGNALS_POSSIBLE_ACUTE_ALERTS = Topic(
    name="signals.possible-acute-alerts.v1",
    value=PossibleAcuteAlertV1,
    key="signal_id",
    description="A possible acute risk: a coordinator must review it within the configured hours.",
    producers=("triage",),
    consumers=("notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=14),
)

SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED = Topic(
    name="signals.possible-acute-review-missed.v1",
    value=PossibleAcuteReviewMissedV1,
    key="signal_id",
    description="A possible-acute signal not reviewed by a coordinator in time (once per signal).",
    producers=("triage",),
    consumers=("notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=14),
)

SIGNALS_DEADLINE_MISSED = Topic(
    name="signals.deadline-missed.v1",
    value=DeadlineMissedV1,
    key="signal_id",
    description="A first-contact deadline passed without contact (once per missed deadline).",
    producers=("triage",),
    consumers=("notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=14),
)

CASE_STEPS = Topic(
    name="cases.steps.v1",
    value=CaseStepRecordedV1,
    key="signal_id",
    description=(
        "Every step of a case: received → triaged → in_intake → referred → closed, contact "
        "attempts, reopening; in order per signal."
    ),
    producers=("triage",),
    # intake: the reporter's status page moves to "being handled" and "handled";
    # referral: a recorded help question is ranked against the social map
    consumers=("notifications", "metrics", "intake", "referral"),
    partitions=6,
    retention=timedelta(days=14),
)

NOTIFICATIONS = Topic(
    name="notifications.v1",
    value=NotificationV1,
    key="notification_id",
    description="What became of each message: sent, queued (quiet hours) or failed; no addresses.",
    producers=("notifications",),
    consumers=("metrics",),
    partitions=3,
    retention=timedelta(days=14),
)

REFERRALS = Topic(
    name="referrals.v1",
    value=ReferralUpdatedV1,
    key="signal_id",
    description=(
        "Every change of a referral: proposed → sent → accepted | declined | no_capacity → "
        "in_progress → completed | could_not_contact | no_longer_interested | "
        "referred_elsewhere, and escalations when an organisation does not answer in time."
    ),
    producers=("referral",),
    # notifications: the receiving organisation, and the team on declines and escalations;
    # triage: referral progress on the case's timeline
    consumers=("notifications", "triage", "metrics"),
    partitions=6,
    retention=timedelta(days=14),
)

MATCHES_REQUESTED = Topic(
    name="matches.requested.v1",
    value=MatchRequestedV1,
    key="signal_id",
    description="A volunteer-type need (buddy, practical help) for the volunteer-matching service.",
    producers=("referral",),
    consumers=("matching",),
    partitions=3,
    retention=timedelta(days=14),
)

MATCHES = Topic(
    name="matches.v1",
    value=MatchUpdatedV1,
    key="signal_id",
    description=(
        "Every change of a volunteer match: proposed → accepted | declined | expired → active → "
        "ended (with reason); unmatched requests with the constraint that failed most; the "
        "four-week follow-up for the social worker."
    ),
    producers=("matching",),
    # referral: the match request's referral follows the match's outcome;
    # notifications: the answer link to the volunteer, acceptance and follow-up to the social
    # worker; metrics: matches by status and unmatched requests by failed constraint (Grafana)
    consumers=("referral", "notifications", "metrics"),
    partitions=3,
    retention=timedelta(days=14),
)

VOLUNTEERS_VOG_EXPIRING = Topic(
    name="volunteers.vog-expiring.v1",
    value=VolunteerVogExpiringV1,
    key="volunteer_id",
    description="A volunteer's certificate of conduct (VOG) expires within 30 days (once each).",
    producers=("matching",),
    consumers=("notifications",),  # the coordinators are mailed
    # few, but as many partitions as notifications' other topics: its replicas scale to the
    # fewest partitions of what they consume (one warning per certificate: no order to keep)
    partitions=3,
    retention=timedelta(days=30),
)

REFERRAL_GAPS = Topic(
    name="referrals.gaps.v1",
    value=OfferGapV1,
    key="municipality code (never a person)",
    description=(
        "A need the social map could not meet (no eligible offer, or all full): the input of "
        "the gap report, e.g. many grief signals and no grief group."
    ),
    producers=("referral",),
    consumers=("metrics",),
    partitions=3,
    retention=timedelta(days=90),
)

PARTNER_TOPIC_PREFIX = "partner."


def partner_rejections_topic(urn: str, *, prefix: str = PARTNER_TOPIC_PREFIX) -> Topic:
    """A partner's own rejection topic, `partner.<slug>.rejections.v1` (slug: the URN's last
    part): only that partner's refusals, so a partner's principal may read it and no other
    partner's (ACL by topic name). One per partner in the partner registry (intake creates it
    before it first writes to it), so not in REGISTRY; its events are the same as on
    PARTNER_REJECTIONS."""
    slug = urn.rsplit(":", 1)[-1]
    return Topic(
        name=f"{prefix}{slug}.rejections.v1",
        value=PartnerSignalRejectedV1,
        key="the partner's URN",
        description=f"Why signals of {urn} were refused, by its own event id (its own topic).",
        producers=("intake",),
        consumers=(),  # the partner's own consumer group, outside the signal point
        partitions=1,
        retention=timedelta(days=30),
    )


SIGNALS_ERASED = Topic(
    name="signals.erased.v1",
    value=SignalErasedV1,
    key="signal_id",
    description=(
        "A signal's personal data was erased (AVG art. 17): its data keys are shredded; every "
        "service deletes or anonymises what it derived from the signal."
    ),
    producers=("intake",),
    consumers=("triage", "notifications", "metrics", "referral", "matching"),
    partitions=6,
    # a service that was down for a long weekend must still see it
    retention=timedelta(days=28),
)

PARTNERS_LISTED = Topic(
    name="partners.listed.v1",
    value=PartnerListedV1,
    key="the partner's URN",
    description=(
        "Each partner as the partner registry holds it now (name, type, municipalities, webhook "
        "URL, active), published by intake on every change and at start; the latest per partner "
        "counts. Notifications delivers refusals to the webhook URL given here."
    ),
    producers=("intake",),
    consumers=("notifications",),
    # few and small, but as many partitions as notifications' other topics: its replicas scale
    # to the fewest partitions of what they consume
    partitions=3,
    retention=timedelta(days=28),
    # the latest entry per partner is kept for as long as the topic exists
    config={"cleanup.policy": "compact"},
)

REGISTRY = TopicRegistry(
    topics=(
        PLATFORM_PROBE,
        PARTNER_SIGNALS,
        SIGNALS_RECEIVED,
        PARTNER_REJECTIONS,
        SIGNALS_TRIAGED,
        SIGNALS_ACUTE_ALERTS,
        SIGNALS_POSSIBLE_ACUTE_ALERTS,
        SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
        SIGNALS_DEADLINE_MISSED,
        CASE_STEPS,
        NOTIFICATIONS,
        REFERRALS,
        MATCHES_REQUESTED,
        MATCHES,
        VOLUNTEERS_VOG_EXPIRING,
        REFERRAL_GAPS,
        SIGNALS_ERASED,
        PARTNERS_LISTED,
    )
)
"""Every topic; a new service adds its own here."""
