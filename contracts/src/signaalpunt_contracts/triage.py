"""Triage and the case lifecycle: what the triage service decides and how a case moves on.

The regisseur eenzaamheid assesses every signal and the desk routes it to team welzijn or team
eenzaamheid (DOMAIN.md). The triage service proposes that decision from explainable rules, people
confirm or change it, and every step of the case is an event. Route and state names are the
users' own (Dutch) words. Nothing here is personal except the sealed override note.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .envelope import EventPayload
from .needs import HelpQuestion
from .signals import Channel, Sealed


class Route(StrEnum):
    """Where a signal goes ("route")."""

    ACUUT = "acuut"  # acute risk: the coordinator on duty, today, with 113 or the GP
    MOGELIJK_ACUUT = "mogelijk_acuut"  # possible acute risk: a coordinator reviews within hours
    JEUGDTEAM = "jeugdteam"  # a minor (under 15): the municipality's youth team follows it up
    TEAM_EENZAAMHEID = "team_eenzaamheid"  # the loneliness team (sociaal werk, Humanitas, …)
    TEAM_WELZIJN = "team_welzijn"  # general welfare: activities, buurtcirkels, light support
    BUITEN_BEREIK = "buiten_bereik"  # out of scope for this signal point


class RiskGroup(StrEnum):
    SENIOR_75_PLUS = "senior_75_plus"
    YOUTH_15_24 = "youth_15_24"
    MINOR_UNDER_15 = "minor_under_15"  # flagged: minors go to youth care, never auto-routed
    GRIEF_AND_LOSS = "grief_and_loss"
    DISABILITY_OR_PSYCHIATRIC = "disability_or_psychiatric"
    INFORMAL_CARER = "informal_carer"
    HOMELESS = "homeless"


class Priority(StrEnum):
    ACUTE = "acute"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class DecidedBy(StrEnum):
    RULES = "rules"
    COORDINATOR = "coordinator"


class Advice(StrEnum):
    """What the decision asks people to do besides routing."""

    INVOLVE_113_OR_GP = "involve_113_or_gp"  # acute risk: 113 Zelfmoordpreventie or the GP
    YOUTH_CARE = "youth_care"  # a minor: the municipality's youth team (jeugdteam)
    REFER_ELSEWHERE = "refer_elsewhere"  # out of scope: name where the reporter can go


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FiredRule(_Part):
    """One rule that fired, and what it matched: the explanation of a decision."""

    rule: str = Field(max_length=80, description="the rule's id in the rules file")
    description: str = Field(max_length=300, description="what the rule says, for people")
    matched: tuple[str, ...] = Field(
        default=(),
        description="cue names, checkbox cues or age facts it matched; never the reporter's words",
    )
    matched_words: tuple[str, ...] = Field(
        default=(),
        description=(
            "for each text cue, the rules file's words that matched, e.g. "
            "'suicide_risk: willen + dood' or 'suicide_mention: zelfmoord (about another person)';"
            " words of the rules, never the reporter's own text"
        ),
    )


class SignalTriagedV1(EventPayload):
    """A triage decision for a signal: first from the rules, later from a coordinator."""

    event_type: ClassVar[str] = "signaalpunt.signal.triaged"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "channel": "partner_portal",
            "decision": 1,
            "route": "team_eenzaamheid",
            "risk_groups": ["senior_75_plus"],
            "priority": "normal",
            "first_contact_due": "2026-11-26T09:14:00+01:00",
            "needs_review": False,
            "explanation": [
                {
                    "rule": "alone-and-isolated",
                    "description": "Lives alone and has no visitors: team eenzaamheid",
                    "matched": ["lives_alone", "no_visitors"],
                },
                {
                    "rule": "age-75-plus",
                    "description": "75 or older: risk group senior",
                    "matched": ["age_band=75_plus"],
                },
            ],
            "decided_by": "rules",
            "rules_version": "default@2026-11-01+GM0715@2026-11-10",
            "received_at": "2026-11-23T09:14:00+01:00",
            "decided_at": "2026-11-23T09:14:01+01:00",
        },
        {
            "signal_id": "01a20900-0000-7000-8000-000000000002",
            "subject_id": "01a20900-0000-7000-8000-0000000000bb",
            "channel": "web_form",
            "decision": 2,
            "route": "acuut",
            "risk_groups": ["youth_15_24"],
            "priority": "acute",
            "first_contact_due": "2026-11-24T00:40:00+01:00",
            "needs_review": True,
            "explanation": [
                {
                    "rule": "acute-risk",
                    "description": "Signs of suicide, self-harm or acute danger",
                    "matched": ["wish_to_die", "text:doodswens"],
                }
            ],
            "advice": ["involve_113_or_gp"],
            "decided_by": "coordinator",
            "decided_by_staff": "staff:regisseur-terneuzen-1",
            "reason": "pd1.c2VhbGVkIHJlYXNvbg==",
            "rules_version": "default@2026-11-01",
            "received_at": "2026-11-23T23:40:00+01:00",
            "decided_at": "2026-11-23T23:52:00+01:00",
        },
    )

    signal_id: UUID
    subject_id: UUID
    channel: Channel
    decision: int = Field(ge=1, description="1 for the rules' decision, +1 for every change")
    route: Route
    risk_groups: tuple[RiskGroup, ...] = ()
    priority: Priority
    first_contact_due: AwareDatetime
    needs_review: bool = Field(description="a person must look at it before it goes on")
    review_due: AwareDatetime | None = Field(
        default=None,
        description="possible acute risk: a coordinator must have reviewed it by then",
    )
    explanation: tuple[FiredRule, ...] = ()
    advice: tuple[Advice, ...] = ()
    decided_by: DecidedBy
    decided_by_staff: str | None = Field(
        default=None, max_length=200, description="the staff member's id (sub), not a name"
    )
    reason: Sealed | None = Field(default=None, description="why a coordinator changed it, sealed")
    rules_version: str = Field(max_length=300)
    received_at: AwareDatetime
    decided_at: AwareDatetime


class AcuteSignalAlertV1(EventPayload):
    """An acute-risk signal: alert the coordinator on duty at once (quiet hours or not)."""

    event_type: ClassVar[str] = "signaalpunt.signal.acute-alert"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000002",
            "subject_id": "01a20900-0000-7000-8000-0000000000bb",
            "matched": ["wish_to_die", "text:doodswens"],
            "advice": ["involve_113_or_gp"],
            "first_contact_due": "2026-11-24T00:40:00+01:00",
            "raised_at": "2026-11-23T23:40:01+01:00",
        },
    )

    signal_id: UUID
    subject_id: UUID
    matched: tuple[str, ...] = Field(description="cue names only, never the reporter's words")
    advice: tuple[Advice, ...] = ()
    first_contact_due: AwareDatetime
    raised_at: AwareDatetime


class PossibleAcuteAlertV1(EventPayload):
    """A possible acute risk (a death wish, hopelessness, a mention of suicide that is not
    clearly intent): a coordinator must review it before `review_due`."""

    event_type: ClassVar[str] = "signaalpunt.signal.possible-acute-alert"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000003",
            "subject_id": "01a20900-0000-7000-8000-0000000000cc",
            "matched": ["text:death_wish"],
            "review_due": "2026-11-23T13:14:00+01:00",
            "raised_at": "2026-11-23T09:14:01+01:00",
        },
    )

    signal_id: UUID
    subject_id: UUID
    matched: tuple[str, ...] = Field(description="cue names only, never the reporter's words")
    review_due: AwareDatetime
    raised_at: AwareDatetime


class PossibleAcuteReviewMissedV1(EventPayload):
    """A possible-acute signal was not reviewed by a coordinator in time (published once)."""

    event_type: ClassVar[str] = "signaalpunt.signal.possible-acute-review-missed"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000003",
            "route": "mogelijk_acuut",
            "review_due": "2026-11-23T13:14:00+01:00",
            "detected_at": "2026-11-23T13:14:30+01:00",
        },
    )

    signal_id: UUID
    route: Route
    review_due: AwareDatetime
    detected_at: AwareDatetime


class CaseState(StrEnum):
    """received → triaged → in_intake → referred → closed (and reopened back to triaged)."""

    RECEIVED = "received"
    TRIAGED = "triaged"
    IN_INTAKE = "in_intake"
    REFERRED = "referred"
    CLOSED = "closed"


class DeadlineMissedV1(EventPayload):
    """A signal's first-contact deadline passed without first contact (published once)."""

    event_type: ClassVar[str] = "signaalpunt.signal.deadline-missed"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "route": "team_eenzaamheid",
            "priority": "high",
            "state": "triaged",
            "first_contact_due": "2026-11-24T09:14:00+01:00",
            "detected_at": "2026-11-24T09:15:02+01:00",
        },
    )

    signal_id: UUID
    route: Route
    priority: Priority
    state: CaseState
    first_contact_due: AwareDatetime
    detected_at: AwareDatetime


class CaseStep(StrEnum):
    """What the desk or the system recorded (the intake outcomes of the issue)."""

    TRIAGED = "triaged"  # the rules decided (received → triaged)
    REPORTER_CONTACTED = "reporter_contacted"  # first contact made (triaged → in_intake)
    CONTACT_ATTEMPT_FAILED = "contact_attempt_failed"  # tried, no answer (state unchanged)
    NOT_REACHABLE = "not_reachable"  # N attempts failed (→ closed, reason not_reachable)
    INTAKE_DONE = "intake_done"  # intake conversation with the person held (in_intake → referred)
    CLOSED = "closed"  # closed with a reason
    REOPENED = "reopened"  # closed → triaged
    HELP_QUESTION_RECORDED = "help_question_recorded"  # the hulpvraag (state unchanged)


class CloseReason(StrEnum):
    SUPPORT_ARRANGED = "support_arranged"
    DECLINED_BY_PERSON = "declined_by_person"
    NOT_REACHABLE = "not_reachable"
    ALREADY_SUPPORTED = "already_supported"
    OUT_OF_SCOPE = "out_of_scope"
    DUPLICATE = "duplicate"
    DECEASED_OR_MOVED = "deceased_or_moved"


class CaseStepRecordedV1(EventPayload):
    """A step in a case's lifecycle; `state` is the state after the step."""

    event_type: ClassVar[str] = "signaalpunt.case.step-recorded"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "step": "reporter_contacted",
            "previous_state": "triaged",
            "state": "in_intake",
            "route": "team_eenzaamheid",
            "contact_attempts": 2,
            "recorded_by": "staff:desk-terneuzen-2",
            "received_at": "2026-11-23T09:14:00+01:00",
            "recorded_at": "2026-11-24T10:05:00+01:00",
        },
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "step": "closed",
            "previous_state": "referred",
            "state": "closed",
            "route": "team_eenzaamheid",
            "close_reason": "support_arranged",
            "note": "pd1.c2VhbGVkIG5vdGU=",
            "contact_attempts": 2,
            "recorded_by": "staff:desk-terneuzen-2",
            "received_at": "2026-11-23T09:14:00+01:00",
            "recorded_at": "2026-12-02T14:30:00+01:00",
        },
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "step": "help_question_recorded",
            "previous_state": "in_intake",
            "state": "in_intake",
            "route": "team_welzijn",
            "help_question": {
                "needs": ["buddy", "social_contact"],
                "text": "pd1.c2VhbGVkIHF1ZXN0aW9u",
                "languages": ["nl", "ar"],
                "mobility": "needs_transport",
                "age": 78,
                "near": {"lat": 51.33, "lon": 3.83},
                "consent_to_refer": True,
            },
            "risk_groups": ["senior_75_plus"],
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "recorded_by": "staff:desk-terneuzen-2",
            "received_at": "2026-11-23T09:14:00+01:00",
            "recorded_at": "2026-11-24T10:20:00+01:00",
        },
    )

    signal_id: UUID
    step: CaseStep
    previous_state: CaseState
    state: CaseState
    route: Route
    close_reason: CloseReason | None = None
    note: Sealed | None = Field(default=None, description="the desk's note, sealed")
    contact_attempts: int = Field(default=0, ge=0)
    help_question: HelpQuestion | None = Field(
        default=None, description="with step help_question_recorded: what the person needs"
    )
    risk_groups: tuple[RiskGroup, ...] | None = Field(
        default=None, description="the case's risk groups when the help question was recorded"
    )
    subject_id: UUID | None = Field(
        default=None, description="with a help question: whose data key sealed its text"
    )
    recorded_by: str = Field(max_length=200, description="staff id (sub) or 'triage' for the rules")
    received_at: AwareDatetime
    recorded_at: AwareDatetime
