"""Volunteer matches ("koppelingen"): a trained volunteer for a person's volunteer-type need.

A match moves proposed → accepted | declined | expired → active → ended (with a reason). A decline
or an unanswered proposal sends the request to the next volunteer; a request nobody can take is
`unmatched`, with the constraint that ruled out most volunteers. Every change is one event on
`matches.v1`, keyed by signal id (in order per case, like referrals), with `version` growing per
change of a match so a consumer can ignore a late or replayed one. Events carry ids, statuses and
reason codes; the volunteer's contact address only sealed with the volunteer's own data key.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from .envelope import EventPayload
from .needs import LanguageCode, Need
from .signals import Sealed


class MatchStatus(StrEnum):
    PROPOSED = "proposed"  # asked through a signed answer link; answers before respond_by
    ACCEPTED = "accepted"  # the volunteer said yes; the coupled social worker is informed
    DECLINED = "declined"  # the volunteer said no; the next volunteer is asked
    EXPIRED = "expired"  # no answer before respond_by; the next volunteer is asked
    ACTIVE = "active"  # the first meeting took place (the social worker records it)
    ENDED = "ended"  # with an end_reason
    UNMATCHED = "unmatched"  # the request found nobody (no match id; failed_constraint says why)


class MatchEndReason(StrEnum):
    COMPLETED = "completed"  # the contact ran its course
    PERSON_STOPPED = "person_stopped"
    VOLUNTEER_STOPPED = "volunteer_stopped"
    NOT_A_FIT = "not_a_fit"
    WITHDRAWN = "withdrawn"  # the coordinator took it back


class MatchConstraint(StrEnum):
    """The hard constraints, in the order they are checked (the first one failing is counted)."""

    STATUS = "status"  # not active (paused, left)
    VOG = "vog"  # no certificate of conduct valid on the start date
    SKILL = "skill"  # does none of the things the person needs
    TRAINING = "training"  # the need is existential and the volunteer is not trained for it
    CAPACITY = "capacity"  # no room for another match
    LANGUAGE = "language"  # shares no language with the person
    DISTANCE = "distance"  # the person lives beyond the volunteer's travel distance
    ALREADY_ASKED = "already_asked"  # asked for this request before (declined or expired)


class MatchUpdatedV1(EventPayload):
    """A match changed status, a request found nobody, or a follow-up is due."""

    event_type: ClassVar[str] = "signaalpunt.match.updated"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "match_request_id": "01a20900-0000-7000-8000-0000000000e7",
            "match_id": "01a20900-0000-7000-8000-0000000000e8",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "volunteer_id": "01a20900-0000-7000-8000-0000000000b1",
            "social_worker": "staff:welzijn-terneuzen-3",
            "status": "proposed",
            "version": 1,
            "attempt": 1,
            "needs": ["buddy"],
            "score": 71.5,
            "reasons": ["distance:3km", "interests:2", "availability:4/6", "load:0"],
            "respond_by": "2026-11-27T10:20:01+01:00",
            "answer_url": "https://matching.signaalpunt.example/v1/matching/answers/eyJ...",
            "volunteer_contact": "pd1.c2VhbGVkIGFkZHJlc3M=",
            "changed_by": "matching",
            "changed_at": "2026-11-24T10:20:01+01:00",
            "requested_at": "2026-11-24T10:20:00+01:00",
            "volunteer_languages": ["en", "nl"],
        },
        {
            "match_request_id": "01a20900-0000-7000-8000-0000000000e9",
            "signal_id": "01a20900-0000-7000-8000-000000000002",
            "subject_id": "01a20900-0000-7000-8000-0000000000ab",
            "status": "unmatched",
            "version": 1,
            "attempt": 3,
            "needs": ["existential_conversation"],
            "failed_constraint": "training",
            "ruled_out": {"training": 41, "vog": 2, "already_asked": 2},
            "changed_by": "matching",
            "changed_at": "2026-11-24T10:20:01+01:00",
        },
    )

    match_request_id: UUID
    match_id: UUID | None = Field(default=None, description="none when the request is unmatched")
    signal_id: UUID
    subject_id: UUID
    volunteer_id: UUID | None = None
    social_worker: str | None = Field(
        default=None, max_length=200, description="the coupled social worker's staff id"
    )
    status: MatchStatus
    previous_status: MatchStatus | None = None
    version: int = Field(ge=1, description="+1 per change of this match")
    attempt: int = Field(ge=1, description="which volunteer asked for this request (1 = first)")
    needs: tuple[Need, ...] = ()
    score: float | None = None
    reasons: tuple[str, ...] = Field(default=(), description="why this volunteer, as codes")
    respond_by: AwareDatetime | None = Field(
        default=None, description="with proposed: the volunteer answers before this"
    )
    answer_url: str | None = Field(
        default=None,
        max_length=2000,
        description="with proposed: the signed one-time link the volunteer answers with",
    )
    volunteer_contact: Sealed | None = Field(
        default=None, description="with proposed: the volunteer's e-mail, sealed (their own key)"
    )
    end_reason: MatchEndReason | None = None
    failed_constraint: MatchConstraint | None = Field(
        default=None, description="with unmatched: the constraint that ruled out most"
    )
    ruled_out: dict[str, int] = Field(
        default_factory=dict, description="with unmatched: volunteers ruled out per constraint"
    )
    follow_up_due: bool = Field(
        default=False,
        description="four weeks after the start: ask the social worker whether it became a match",
    )
    changed_by: str = Field(max_length=200)
    changed_at: AwareDatetime
    # optional (minor change): when the request came in, so "requested → active" can be measured
    # from any one event of the request (metrics' duration histogram)
    requested_at: AwareDatetime | None = Field(
        default=None, description="when the match request was made (matches.requested.v1)"
    )
    volunteer_languages: tuple[LanguageCode, ...] = Field(
        default=(),
        max_length=10,
        description="with proposed: the languages the volunteer speaks, so the proposal is "
        "written in one of them",
    )


class VolunteerVogExpiringV1(EventPayload):
    """A volunteer's certificate of conduct (VOG) expires within the warning window: the
    municipality's coordinators are told once per certificate."""

    event_type: ClassVar[str] = "signaalpunt.volunteer.vog-expiring"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "volunteer_id": "01a20900-0000-7000-8000-0000000000b1",
            "vog_expires_on": "2026-12-20",
            "social_worker": "staff:welzijn-terneuzen-3",
            "detected_at": "2026-11-24T06:00:00+01:00",
        },
    )

    volunteer_id: UUID
    vog_expires_on: date
    social_worker: str | None = Field(default=None, max_length=200)
    detected_at: AwareDatetime
