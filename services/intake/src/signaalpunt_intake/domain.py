"""Intake's own rules, without I/O: what a submission is, where it belongs, who may send it.

"Melding ontvangen": a signal arrives by web form, phone (the desk), partner portal or partner
system. Intake checks it, settles the municipality (from the postcode when only that is given),
and turns it into the canonical signal; it never judges the content (that is triage).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import Field, model_validator
from signaalpunt_access import AuthenticationError, AuthorizationError, Principal, PrincipalKind
from signaalpunt_contracts import AgeBand, Channel, SignalReport
from signaalpunt_contracts.partner import ASCII_SPACE

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

    def json_schema(self) -> dict[str, Any]:
        """The rule of `settle_municipality` as JSON Schema, for a report's document: the
        municipality one of the consortium's, a postcode in one of its areas, and the two in
        agreement when both are given. A schema-valid report is then never refused for where."""

        def postcode_in(areas: Iterable[tuple[int, int]]) -> dict[str, Any]:
            numbers = "|".join(str(n) for low, high in areas for n in range(low, high + 1))
            space = ASCII_SPACE  # as POSTCODE_PATTERN: no \s (regex dialects differ on it)
            return {
                "type": "string",
                "pattern": rf"^{space}*({numbers}){space}*([A-Za-z]{{2}})?{space}*$",
            }

        every_area = [area for m in self.municipalities for area in m.postcode_areas]
        return {
            "anyOf": [
                *(
                    {
                        "required": ["municipality"],
                        "properties": {
                            "municipality": {"const": m.code},
                            "subject": {
                                "properties": {
                                    "postcode": {
                                        "anyOf": [postcode_in(m.postcode_areas), {"type": "null"}]
                                    }
                                }
                            },
                        },
                    }
                    for m in self.municipalities
                ),
                {
                    "properties": {
                        "municipality": {"type": "null"},
                        "subject": {
                            "required": ["postcode"],
                            "properties": {"postcode": postcode_in(every_area)},
                        },
                    }
                },
            ]
        }

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


class SignalSubmission(SignalReport):
    """What `POST /v1/signals` accepts (over TLS; sealed before anything is stored or sent)."""

    channel: Channel = Field(json_schema_extra={"not": {"const": Channel.PARTNER_EVENT.value}})

    @model_validator(mode="after")
    def _not_through_http(self) -> SignalSubmission:
        if self.channel is Channel.PARTNER_EVENT:
            raise ValueError("partner systems send signals as events on partner.signals.v1")
        return self

    def body_hash(self) -> bytes:
        """For idempotency: the same request twice hashes the same."""
        return hashlib.sha256(self.model_dump_json().encode()).digest()


@dataclass(frozen=True)
class Partner:
    """A partner organisation allowed to send signals by Kafka (the partner registry, data in
    intake's database, managed with `signaalpunt-partners`)."""

    urn: str
    name: str
    partner_type: str
    municipalities: tuple[str, ...]
    signing_keys: tuple[dict[str, Any], ...] = ()
    """The partner's public JWKs; its events are signed with one of them (by `kid`)."""
    webhook_url: str | None = None
    contact: str | None = None
    active: bool = True

    def signing_key(self, kid: str | None) -> dict[str, Any] | None:
        return next((k for k in self.signing_keys if kid and k.get("kid") == kid), None)


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


def settle_municipality(submission: SignalReport, table: MunicipalityTable) -> str:
    """The municipality the signal belongs to. A municipality that contradicts the postcode is
    refused: a signal must never land in the wrong municipality."""
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
