"""Intake's own rules, without I/O: what a submission is, where it belongs, who may send it.

"Melding ontvangen": a signal arrives by web form, phone (the desk), partner portal or partner
system. Intake checks it, settles the municipality (from the postcode when only that is given),
and turns it into the canonical signal; it never judges the content (that is triage).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator
from signaalpunt_access import AuthenticationError, AuthorizationError, Principal, PrincipalKind
from signaalpunt_contracts import AgeBand, Channel, Cue, ReportedUrgency, ReporterKind

POSTCODE = re.compile(r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})?\s*$")


class OutsideConsortiumError(ValueError):
    """The postcode is not in any municipality of this signal point: say where to go instead."""

    def __init__(self, postcode_area: str, advice: str) -> None:
        super().__init__(f"postcode area {postcode_area} is outside this signal point")
        self.postcode_area = postcode_area
        self.advice = advice


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    postcode_areas: tuple[tuple[int, int], ...]
    """Inclusive ranges of four-digit postcode areas."""


@dataclass(frozen=True)
class MunicipalityTable:
    """The consortium's municipalities and their postcode areas (configured, see config.py)."""

    consortium: str
    municipalities: tuple[Municipality, ...]
    outside_advice: str

    def by_code(self, code: str) -> Municipality | None:
        return next((m for m in self.municipalities if m.code == code), None)

    def for_postcode(self, postcode: str) -> Municipality:
        match = POSTCODE.match(postcode)
        if not match:
            raise ValueError("not a Dutch postcode (1234 AB)")
        area = int(match.group(1))
        for municipality in self.municipalities:
            if any(low <= area <= high for low, high in municipality.postcode_areas):
                return municipality
        raise OutsideConsortiumError(str(area), self.outside_advice)


class ReporterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ReporterKind
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    organisation: str | None = Field(default=None, max_length=200)
    may_contact: bool = False
    wants_feedback: bool = False

    @model_validator(mode="after")
    def _contact_needs_a_channel(self) -> ReporterIn:
        if (self.may_contact or self.wants_feedback) and not (self.phone or self.email):
            raise ValueError("give a phone number or e-mail address to be contacted")
        return self


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age_band: AgeBand | None = None
    address: str | None = Field(default=None, max_length=300)
    postcode: str | None = Field(default=None, pattern=POSTCODE.pattern)
    phone: str | None = Field(default=None, max_length=40)
    languages: list[str] = Field(default_factory=list, max_length=10)
    knows_of_signal: bool | None = None
    consented: bool | None = None


class ConcernIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=5000)
    cues: list[Cue] = Field(default_factory=list, max_length=len(Cue))

    @model_validator(mode="after")
    def _something_to_go_on(self) -> ConcernIn:
        if not (self.text and self.text.strip()) and not self.cues:
            raise ValueError("describe the concern or tick at least one observation")
        return self


class SignalSubmission(BaseModel):
    """What `POST /v1/signals` accepts (over TLS; sealed before anything is stored or sent)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    municipality: str | None = Field(default=None, pattern=r"^GM\d{4}$")
    reporter: ReporterIn
    subject: SubjectIn
    concern: ConcernIn
    reported_urgency: ReportedUrgency = ReportedUrgency.NORMAL

    @model_validator(mode="after")
    def _where(self) -> SignalSubmission:
        if self.channel is Channel.PARTNER_EVENT:
            raise ValueError("partner systems send signals as events on partner.signals.v1")
        if self.municipality is None and self.subject.postcode is None:
            raise ValueError("give the municipality or the postcode of the person")
        return self

    def body_hash(self) -> bytes:
        """For idempotency: the same request twice hashes the same."""
        return hashlib.sha256(self.model_dump_json().encode()).digest()


def age_band(birth_year: int | None, today: date) -> AgeBand | None:
    if birth_year is None:
        return None
    age = today.year - birth_year
    if age < 15:
        return AgeBand.UNDER_15
    if age < 25:
        return AgeBand.YOUTH_15_24
    if age < 55:
        return AgeBand.ADULT_25_54
    if age < 75:
        return AgeBand.ADULT_55_74
    return AgeBand.SENIOR_75_PLUS


def settle_municipality(submission: SignalSubmission, table: MunicipalityTable) -> str:
    """The municipality the signal belongs to; the postcode wins when both are given and differ
    is refused, because a signal must never land in the wrong municipality."""
    by_postcode = (
        table.for_postcode(submission.subject.postcode) if submission.subject.postcode else None
    )
    if submission.municipality is not None:
        if table.by_code(submission.municipality) is None:
            raise ValueError(f"{submission.municipality} is not part of {table.consortium}")
        if by_postcode is not None and by_postcode.code != submission.municipality:
            raise ValueError(
                f"the postcode lies in {by_postcode.name} ({by_postcode.code}), "
                f"not in {submission.municipality}"
            )
        return submission.municipality
    assert by_postcode is not None
    return by_postcode.code


def authorise(principal: Principal | None, channel: Channel, municipality: str) -> None:
    """Who may submit through which channel: anyone by web form; the desk (staff with role
    `desk`) by phone; partners through their portal, for their own municipalities."""
    if channel is Channel.WEB_FORM:
        return
    if principal is None:
        raise AuthenticationError(f"the {channel.value} channel needs a bearer token")
    principal.require_municipality(municipality)
    if channel is Channel.PHONE:
        if principal.kind is not PrincipalKind.STAFF:
            raise AuthorizationError("only staff enter signals by phone")
        principal.require_role("desk")
    elif channel is Channel.PARTNER_PORTAL:
        if principal.kind is not PrincipalKind.PARTNER:
            raise AuthorizationError("the partner portal is for partner organisations")
        principal.require_channel("partner_portal")
