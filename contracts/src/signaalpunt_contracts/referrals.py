"""Referrals ("doorverwijzingen"): from a help question to an offer on the social map, closed-loop.

A referral moves proposed → sent → accepted | declined | no_capacity → in_progress → completed |
could_not_contact | no_longer_interested | referred_elsewhere (withdrawn by the team from any open
state). Every change is one event on `referrals.v1`, keyed by signal id so a case's referrals stay
in order; `version` grows by one per change so a consumer can ignore a late or replayed one.
A volunteer-type need also becomes a match request; a need no offer can meet becomes a gap.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from .envelope import EventPayload
from .matches import MatchConstraint, MatchStatus
from .needs import GeoPoint, Interest, LanguageCode, Mobility, Need, WeekSlot
from .signals import Sealed
from .triage import RiskGroup


class ReferralStatus(StrEnum):
    PROPOSED = "proposed"  # ranked for the team, not yet sent
    SENT = "sent"  # the organisation has it and must answer before respond_by
    ACCEPTED = "accepted"  # a place is taken
    DECLINED = "declined"  # the organisation said no (with a reason); the next is proposed
    NO_CAPACITY = "no_capacity"  # the organisation is full; the next is proposed
    IN_PROGRESS = "in_progress"  # the organisation is in contact with the person
    COMPLETED = "completed"  # the offer took place: the team may close the case
    COULD_NOT_CONTACT = "could_not_contact"
    NO_LONGER_INTERESTED = "no_longer_interested"
    REFERRED_ELSEWHERE = "referred_elsewhere"
    WITHDRAWN = "withdrawn"  # the team took the proposal or referral back


class DeclineReason(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    NOT_OUR_OFFER = "not_our_offer"
    WAITING_LIST = "waiting_list"
    OTHER = "other"


class ReferralChannel(StrEnum):
    """How the organisation receives referrals (HSDS: how to refer)."""

    EMAIL = "email"
    WEBHOOK = "webhook"  # a signed webhook (Standard Webhooks), answered by a signed callback
    API = "api"  # the organisation polls and answers with its own scoped token
    # a match request: the matching service asks volunteers in turn (follows matches.v1)
    VOLUNTEER_MATCHING = "volunteer_matching"


class ReferralUpdatedV1(EventPayload):
    """A referral changed status, or its response deadline passed (escalated)."""

    event_type: ClassVar[str] = "signaalpunt.referral.updated"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "referral_id": "01a20900-0000-7000-8000-0000000000d1",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "service_id": "01a20900-0000-7000-8000-0000000000f1",
            "organisation_id": "01a20900-0000-7000-8000-0000000000f0",
            "service_name": "Maatjesproject Terneuzen",
            "status": "sent",
            "previous_status": "proposed",
            "version": 2,
            "needs": ["buddy"],
            "rank": 1,
            "reasons": ["need:buddy", "risk_group:senior_75_plus", "language:nl", "distance:2km"],
            "channel": "email",
            "referral_email": "maatjes@humanitas.example",
            "respond_by": "2026-11-27T17:00:00+01:00",
            "changed_by": "staff:team-welzijn-1",
            "changed_at": "2026-11-24T10:30:00+01:00",
        },
        {
            "referral_id": "01a20900-0000-7000-8000-0000000000d1",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "service_id": "01a20900-0000-7000-8000-0000000000f1",
            "organisation_id": "01a20900-0000-7000-8000-0000000000f0",
            "service_name": "Maatjesproject Terneuzen",
            "status": "declined",
            "previous_status": "sent",
            "version": 3,
            "needs": ["buddy"],
            "decline_reason": "waiting_list",
            "note": "pd1.c2VhbGVkIG5vdGU=",
            "channel": "api",
            "changed_by": "organisation:01a20900-0000-7000-8000-0000000000f0",
            "changed_at": "2026-11-25T09:00:00+01:00",
        },
        {
            "referral_id": "01a20900-0000-7000-8000-0000000000e7",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "service_id": "5b0f1b9e-3c52-5f37-9a43-6a1e0b0c0715",
            "organisation_id": "5b0f1b9e-3c52-5f37-9a43-6a1e0b0c0715",
            "service_name": "Vrijwilligers (koppeling)",
            "status": "accepted",
            "previous_status": "sent",
            "version": 2,
            "needs": ["buddy"],
            "channel": "volunteer_matching",
            "match_status": "accepted",
            "changed_by": "matching",
            "changed_at": "2026-11-25T11:00:00+01:00",
        },
    )

    referral_id: UUID
    signal_id: UUID
    subject_id: UUID
    service_id: UUID
    organisation_id: UUID
    service_name: str = Field(max_length=300, description="the offer's name on the social map")
    status: ReferralStatus
    previous_status: ReferralStatus | None = None
    version: int = Field(ge=1, description="+1 per change of this referral")
    escalated: bool = Field(
        default=False, description="the response deadline passed: the coordinator must act"
    )
    needs: tuple[Need, ...] = ()
    rank: int | None = Field(default=None, ge=1, description="the proposal's place in the ranking")
    reasons: tuple[str, ...] = Field(
        default=(), description="why this offer fits, as codes (need:…, language:…, distance:…)"
    )
    decline_reason: DeclineReason | None = None
    note: Sealed | None = Field(default=None, description="the organisation's or team's note")
    channel: ReferralChannel
    referral_email: str | None = Field(
        default=None,
        max_length=320,
        description="with status sent by e-mail: the offer's referral address on the social map "
        "(an organisation's, never a person's)",
    )
    respond_by: AwareDatetime | None = Field(
        default=None, description="the organisation answers before this (working days)"
    )
    changed_by: str = Field(
        max_length=200,
        description="staff id, 'auto' (route rule), 'organisation:<id>' or 'matching'",
    )
    changed_at: AwareDatetime
    # optional (minor change): a match request followed from matches.v1 (channel
    # volunteer_matching; referral_id is the match_request_id)
    match_status: MatchStatus | None = Field(
        default=None,
        description="with channel volunteer_matching: the match's own status (proposed, "
        "declined, expired, accepted, active, ended, unmatched)",
    )
    failed_constraint: MatchConstraint | None = Field(
        default=None,
        description="with match_status unmatched: the constraint that ruled out most volunteers",
    )


class MatchRequestedV1(EventPayload):
    """A volunteer-type need (a buddy, practical help): the matching service finds a volunteer."""

    event_type: ClassVar[str] = "signaalpunt.match.requested"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "match_request_id": "01a20900-0000-7000-8000-0000000000e7",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "needs": ["buddy"],
            "languages": ["nl"],
            "mobility": "needs_transport",
            "age": 78,
            "near": {"lat": 51.33, "lon": 3.83},
            "risk_groups": ["senior_75_plus"],
            "requested_at": "2026-11-24T10:20:01+01:00",
        },
    )

    match_request_id: UUID
    signal_id: UUID
    subject_id: UUID
    needs: tuple[Need, ...] = Field(min_length=1)
    languages: tuple[LanguageCode, ...] = ()
    mobility: Mobility
    age: int | None = Field(default=None, ge=0, le=120)
    near: GeoPoint | None = None
    risk_groups: tuple[RiskGroup, ...] = ()
    requested_at: AwareDatetime
    # optional (minor change): what the matching service uses when the requester knows it
    first_name: Sealed | None = Field(
        default=None,
        description="the person's first name, sealed with the subject's key: the only personal "
        "value a volunteer sees before accepting",
    )
    interests: tuple[Interest, ...] = Field(default=(), max_length=20)
    availability: tuple[WeekSlot, ...] = Field(
        default=(), max_length=21, description="when the person can meet (day and part of day)"
    )
    start_on: date | None = Field(
        default=None, description="from when; the volunteer's VOG must be valid then (default: now)"
    )


class GapReason(StrEnum):
    NO_ELIGIBLE_OFFER = "no_eligible_offer"  # nothing on the map serves this need for this person
    ALL_FULL = "all_full"  # eligible offers exist, but none has an open place


class OfferGapV1(EventPayload):
    """A need the social map could not meet for one help question (the gap report's input)."""

    event_type: ClassVar[str] = "signaalpunt.referral.gap"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "need": "grief_support",
            "risk_groups": ["grief_and_loss"],
            "reason": "no_eligible_offer",
            "ruled_out": {"need": 14, "area": 3},
            "detected_at": "2026-11-24T10:20:01+01:00",
        },
    )

    signal_id: UUID
    need: Need
    risk_groups: tuple[RiskGroup, ...] = ()
    reason: GapReason
    ruled_out: dict[str, int] = Field(
        default_factory=dict, description="how many services each constraint ruled out"
    )
    detected_at: AwareDatetime
