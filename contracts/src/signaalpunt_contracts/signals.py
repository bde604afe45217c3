"""Signals ("meldingen"): the canonical signal that intake publishes once a signal is durable.

Every personal value travels sealed (`Sealed`: encrypted with the data key of the subject the
signal is about, see libs/privacy); what stays readable is what routing, triage and metrics need
and what identifies nobody: channel, kinds, cue names, birth year or age band, languages,
municipality.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from .envelope import EventPayload

SEALED_MAX_LENGTH = 28_000
"""Room for the longest personal value a reporter may give, sealed: 5,000 characters of 4 UTF-8
bytes each (20,000 bytes) take 26,708 characters as `pd1.<base64(nonce || ciphertext || tag)>`.
A test in libs/privacy seals that value to prove it fits."""

Sealed = Annotated[
    str,
    StringConstraints(pattern=r"^pd1\.[A-Za-z0-9+/=]+$", max_length=SEALED_MAX_LENGTH),
    Field(description="a personal value sealed with the subject's data key (libs/privacy)"),
]

LanguageCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35),
    Field(description="ISO 639 code, optionally with BCP 47 subtags (nl, tr, nl-BE)"),
]
"""A language as a code only: a free-text field here once carried names and addresses."""


class Channel(StrEnum):
    PARTNER_EVENT = "partner_event"  # a partner system over Kafka (CloudEvents)
    WEB_FORM = "web_form"  # citizens, possibly anonymous
    PHONE = "phone"  # the desk entering a call on someone's behalf
    PARTNER_PORTAL = "partner_portal"  # a partner's personal account


class ReporterKind(StrEnum):
    SELF = "self"
    RELATIVE_OR_NEIGHBOUR = "relative_or_neighbour"
    PROFESSIONAL = "professional"  # GP, district nurse, Wmo consultant
    BUSINESS = "business"  # supermarket cashier, hairdresser
    VOLUNTEER = "volunteer"


class Cue(StrEnum):
    """What the reporter observed ("signalen"); triage rules read these names."""

    LIVES_ALONE = "lives_alone"
    RECENTLY_BEREAVED = "recently_bereaved"
    INFORMAL_CARER = "informal_carer"
    NO_VISITORS = "no_visitors"
    NEGLECTS_SELF = "neglects_self"
    LOW_MOBILITY = "low_mobility"
    FINANCIAL_WORRIES = "financial_worries"
    LANGUAGE_BARRIER = "language_barrier"
    DISABILITY_OR_PSYCHIATRIC = "disability_or_psychiatric"
    HOMELESS = "homeless"
    WISH_TO_DIE = "wish_to_die"
    SELF_HARM = "self_harm"


class ReportedUrgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    ACUTE = "acute"


class AgeBand(StrEnum):
    UNDER_15 = "under_15"
    YOUTH_15_24 = "15_24"
    ADULT_25_54 = "25_54"
    ADULT_55_74 = "55_74"
    SENIOR_75_PLUS = "75_plus"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reporter(_Part):
    kind: ReporterKind
    organisation: str | None = Field(
        default=None,
        max_length=200,
        deprecated=True,
        description="no longer filled (it could name a person, e.g. a one-person practice): "
        "see organisation_sealed; only events from before issue 17 carry it",
    )
    organisation_sealed: Sealed | None = Field(
        default=None, description="the reporting organisation, sealed with the reporter's key"
    )
    partner_type: str | None = Field(default=None, max_length=60, description="e.g. huisarts")
    partner: str | None = Field(
        default=None, description="the partner's URN, when a partner reported"
    )
    name: Sealed | None = None
    phone: Sealed | None = None
    email: Sealed | None = None
    may_contact: bool = False
    wants_feedback: bool = False


class Subject(_Part):
    """The person the signal is about."""

    name: Sealed | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age_band: AgeBand | None = None
    address: Sealed | None = None
    postcode: Sealed | None = None
    phone: Sealed | None = None
    languages: tuple[LanguageCode, ...] = Field(default=(), max_length=10)
    knows_of_signal: bool | None = None
    consented: bool | None = None


class Concern(_Part):
    text: Sealed | None = Field(default=None, description="the reporter's own words, sealed")
    cues: tuple[Cue, ...] = ()


class SignalReceivedV1(EventPayload):
    """A signal was received and is durable; everything after intake starts here."""

    event_type: ClassVar[str] = "signaalpunt.signal.received"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "reporter_id": "01a20900-0000-7000-8000-0000000000ab",
            "channel": "partner_portal",
            "reporter": {
                "kind": "business",
                "organisation_sealed": "pd1.c2VhbGVkIG9yZ2FuaXNhdGlvbg==",
                "partner_type": "supermarkt",
                "partner": "urn:signaalpunt:partner:jumbo-terneuzen",
                "may_contact": True,
                "wants_feedback": True,
            },
            "subject": {
                "name": "pd1.c2VhbGVkIG5hbWU=",
                "age_band": "75_plus",
                "postcode": "pd1.c2VhbGVkIHBvc3Rjb2Rl",
                "languages": ["nl"],
                "knows_of_signal": False,
            },
            "concern": {"text": "pd1.c2VhbGVkIHRleHQ=", "cues": ["lives_alone", "no_visitors"]},
            "reported_urgency": "normal",
            "received_at": "2026-11-23T09:14:00+01:00",
        },
        {
            "signal_id": "01a20900-0000-7000-8000-000000000002",
            "subject_id": "01a20900-0000-7000-8000-0000000000bb",
            "channel": "web_form",
            "reporter": {"kind": "self", "may_contact": True},
            "subject": {"birth_year": 2003},
            "concern": {"cues": ["wish_to_die"]},
            "reported_urgency": "acute",
            "received_at": "2026-11-23T23:40:00+01:00",
            "possible_duplicate_of": "01a20900-0000-7000-8000-000000000001",
        },
    )

    signal_id: UUID
    subject_id: UUID = Field(description="whose data key seals the subject's personal values")
    reporter_id: UUID | None = Field(
        default=None,
        description="whose data key seals the reporter's values (a reporter can be erased on "
        "their own); absent: the subject's key, as in events from before issue 17",
    )
    channel: Channel
    reporter: Reporter
    subject: Subject
    concern: Concern
    reported_urgency: ReportedUrgency = ReportedUrgency.NORMAL
    received_at: AwareDatetime
    partner_reference: str | None = Field(
        default=None, max_length=300, description="the partner's own event: source#id"
    )
    possible_duplicate_of: UUID | None = Field(
        default=None, description="an earlier signal about the same person, within the window"
    )
