"""What partner systems send, and what they hear back when a signal is refused.

Partners publish CloudEvents (Kafka binary mode, `ce_` headers) on `partner.signals.v1`:
`ce_source` is the partner's URN, `ce_id` the partner's own event id (the pair is its idempotency
key), `ce_type` is `PartnerSignalV1.cloudevent_type`, and the value is a `PartnerSignalV1` as JSON,
encrypted as a JWE to intake's public key (`content-type: application/jose`, see
libs/privacy/partner_encryption.py): the topic holds ciphertext only. The same report parts are
what `POST /v1/signals` accepts (over TLS).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .envelope import EventPayload
from .signals import AgeBand, Cue, ReportedUrgency, ReporterKind

# Patterns are read by three regex dialects (JSON Schema's ECMA-262 in clients and schemathesis,
# pydantic-core's Rust regex here, Python's re), which disagree on what \s means (U+0085 is white
# space to Rust and Python, not to ECMA; U+FEFF the other way round): no \s or \S in a pattern,
# the characters are named. BLANK is what Python's str.strip() removes.
ASCII_SPACE = r"[\t\n\x0b\x0c\r ]"
BLANK = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"[^{BLANK}]"
POSTCODE_PATTERN = rf"^{ASCII_SPACE}*[1-9][0-9]{{3}}{ASCII_SPACE}*([A-Za-z]{{2}})?{ASCII_SPACE}*$"
# Text as PostgreSQL, the sealer and every reader take it: no control characters (a NUL cannot be
# stored at all) except tab, line feed and carriage return. Declared as a pattern, so the
# refusal is documented in the schemas and a 422 naming the field, never a failed transaction.
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"
_NO_CONTROL = r"\x00-\x1F\x7F"
_EMAIL_PART = rf"[^@{BLANK}{_NO_CONTROL}\x7f-\x9f\ufeff]+"
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN, max_length=35)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        # a lone surrogate (JSON "\\ud83d") is a character no UTF-8 text can hold: refused here,
        # as input, rather than failing later when the value is sealed
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("not valid Unicode text (a lone surrogate)") from None
        return value


def text_field(max_characters: int, what: str, *, pattern: str = TEXT_PATTERN, **extra: Any) -> Any:
    """A reporter's text of at most `max_characters` characters (Unicode code points), hence at
    most four times as many UTF-8 bytes; both limits are stated in the schema, and the sealed
    form of the largest always fits (signals.SEALED_MAX_LENGTH)."""
    max_bytes = 4 * max_characters
    return Field(
        default=None,
        max_length=max_characters,
        description=(
            f"{what}: at most {max_characters} characters (Unicode code points), "
            f"so at most {max_bytes} UTF-8 bytes"
        ),
        json_schema_extra={"x-max-characters": max_characters, "x-max-utf8-bytes": max_bytes},
        pattern=pattern,
        **extra,
    )


# The cross-field rules of the validators below, stated in the JSON Schema as well, so a client
# (and schemathesis) knows before sending what will be refused: a schema-valid report is taken.
_GIVEN: dict[str, Any] = {"type": "string", "minLength": 1}


class ReporterReport(_Part):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "may_contact": {"const": False},
                        "wants_feedback": {"const": False},
                    }
                },
                {"required": ["phone"], "properties": {"phone": _GIVEN}},
                {"required": ["email"], "properties": {"email": _GIVEN}},
            ]
        }
    )

    kind: ReporterKind
    name: str | None = text_field(200, "the reporter's name")
    phone: str | None = text_field(40, "the reporter's phone number")
    email: str | None = text_field(200, "the reporter's e-mail address", pattern=EMAIL_PATTERN)
    organisation: str | None = text_field(200, "the reporting organisation")
    may_contact: bool = False
    wants_feedback: bool = False

    @model_validator(mode="after")
    def _contact_needs_a_channel(self) -> ReporterReport:
        if (self.may_contact or self.wants_feedback) and not (self.phone or self.email):
            raise ValueError("give a phone number or e-mail address to be contacted")
        return self


class SubjectReport(_Part):
    name: str | None = text_field(200, "the person's name")
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age_band: AgeBand | None = None
    address: str | None = text_field(300, "the person's address")
    postcode: str | None = Field(default=None, pattern=POSTCODE_PATTERN)
    phone: str | None = text_field(40, "the person's phone number")
    languages: tuple[Language, ...] = Field(default=(), max_length=10, description="ISO 639 codes")
    knows_of_signal: bool | None = None
    consented: bool | None = None


class ConcernReport(_Part):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                # more than what str.strip() removes
                {
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "pattern": NOT_BLANK}},
                },
                {"required": ["cues"], "properties": {"cues": {"minItems": 1}}},
            ]
        }
    )

    text: str | None = text_field(5000, "what the reporter saw, in their own words")
    cues: tuple[Cue, ...] = Field(default=(), max_length=len(Cue))

    @model_validator(mode="after")
    def _something_to_go_on(self) -> ConcernReport:
        if not (self.text and self.text.strip()) and not self.cues:
            raise ValueError("describe the concern or tick at least one observation")
        return self


class SignalReport(_Part):
    """A signal as a reporter gives it: where, who reports, about whom, and what was seen."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["municipality"], "properties": {"municipality": {"type": "string"}}},
                {
                    "required": ["subject"],
                    "properties": {
                        "subject": {
                            "required": ["postcode"],
                            "properties": {"postcode": {"type": "string"}},
                        }
                    },
                },
            ]
        }
    )

    municipality: str | None = Field(default=None, pattern=r"^GM\d{4}$")
    reporter: ReporterReport
    subject: SubjectReport
    concern: ConcernReport
    reported_urgency: ReportedUrgency = ReportedUrgency.NORMAL

    @model_validator(mode="after")
    def _where(self) -> SignalReport:
        if self.municipality is None and self.subject.postcode is None:
            raise ValueError("give the municipality or the postcode of the person")
        return self


class PartnerSignalV1(SignalReport, EventPayload):
    """The value of a partner's CloudEvent on partner.signals.v1."""

    event_type: ClassVar[str] = "signaalpunt.partner.signal"
    cloudevent_type: ClassVar[str] = "nl.signaalpunt.partner.signal.v1"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "reporter": {"kind": "professional", "organisation": "Huisartsenpraktijk De Schelde"},
            "subject": {"birth_year": 1939, "postcode": "4531 GH", "languages": ["nl"]},
            "concern": {
                "text": "Patiënte komt alleen nog voor herhaalrecepten, vertelt niemand te zien.",
                "cues": ["lives_alone", "no_visitors"],
            },
        },
        {
            "municipality": "GM0687",
            "reporter": {"kind": "professional", "organisation": "Woonstichting Walcheren"},
            "subject": {"age_band": "55_74"},
            "concern": {"cues": ["neglects_self", "financial_worries"]},
            "reported_urgency": "high",
        },
    )


class FieldError(_Part):
    field: str
    type: str
    reason: str


class PartnerSignalRejectedV1(EventPayload):
    """A partner's event was refused: the partner learns why, by its own event id."""

    event_type: ClassVar[str] = "signaalpunt.partner.signal-rejected"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "partner": "urn:signaalpunt:partner:huisartsen-de-schelde",
            "partner_event_id": "hap-2026-000123",
            "reason": "outside_consortium",
            "detail": "postcode area 1012 is outside this signal point",
            "rejected_at": "2026-11-23T10:02:00+01:00",
        },
        {
            "partner": "urn:signaalpunt:partner:huisartsen-de-schelde",
            "partner_event_id": "hap-2026-000124",
            "reason": "invalid",
            "detail": "2 validation error(s)",
            "field_errors": [
                {"field": "subject.birth_year", "type": "less_than_equal", "reason": "too large"},
                {"field": "reporter.kind", "type": "enum", "reason": "unknown kind"},
            ],
            "rejected_at": "2026-11-23T10:03:00+01:00",
        },
    )

    partner: str = Field(description="the partner's URN (ce_source)")
    partner_event_id: str = Field(description="the partner's own id (ce_id)")
    reason: str = Field(description="invalid, unknown_partner, not_authorised, outside_consortium")
    detail: str = Field(max_length=1000, description="why, without any personal value")
    field_errors: tuple[FieldError, ...] = ()
    rejected_at: AwareDatetime


# --- what a partner's system puts on partner.signals.v1, as the AsyncAPI document states it ---

CONTENT_TYPE_JOSE = "application/jose"
_PART = "[A-Za-z0-9_-]"
COMPACT_JWE = rf"^{_PART}+\.{_PART}*\.{_PART}+\.{_PART}+\.{_PART}+$"
MAX_PARTNER_EVENT_BYTES = 262_144
"""The largest value (the compact JWE) intake reads; a report within the schema always fits."""

REJECTION_REASONS = {
    "structured_mode": "a CloudEvent in structured mode; only binary mode is accepted",
    "not_a_cloudevent": "ce_ headers missing or wrong (the detail names them)",
    "unexpected_type": "a ce_type intake does not take",
    "not_encrypted": "the value is not a JWE (content-type application/jose)",
    "too_large": f"the value is larger than {MAX_PARTNER_EVENT_BYTES} bytes",
    "unknown_key": "the JWE names a kid intake does not hold (see its JWKS)",
    "not_decryptable": "the JWE does not decrypt with intake's key",
    "unknown_partner": "ce_source is not an active partner in the partner registry",
    "not_signed": "the JWE does not hold a JWS signed with the partner's key",
    "unknown_signing_key": "the JWS names a kid the registry does not hold for ce_source",
    "bad_signature": "the JWS does not verify with the key it names",
    "impersonation": "signed with another partner's key than ce_source names",
    "malformed_json": "the signed report is not JSON",
    "invalid": "the report does not meet the schema (field_errors says where)",
    "outside_consortium": "the postcode is outside this signal point",
    "not_authorised": "the partner may not report for that municipality",
    "conflict": "the same ce_id was taken before with other content (the detail names it)",
    "not_processed": "intake could not handle it (its own fault): ask the signal point",
}
"""Every reason a partner can hear in a rejection."""


def partner_signal_message() -> dict[str, Any]:
    """The AsyncAPI 3 message of partner.signals.v1 as partners really send it: CloudEvents in
    the Kafka binary binding, the value a compact JWE (to intake's key) of a compact JWS (with
    the partner's key) of a `PartnerSignalV1` as JSON."""
    return {
        "name": "PartnerSignal",
        "title": "A partner's signal: CloudEvent (binary mode), application/jose",
        "contentType": CONTENT_TYPE_JOSE,
        "description": (
            "Kafka key: the partner's URN. Headers: the CloudEvents attributes (binary binding) "
            "and `content-type: application/jose`. Value: a compact JWE (RFC 7516; alg "
            "ECDH-ES+A256KW, enc A256GCM, `kid` of a key in intake's JWKS at "
            "/.well-known/jwks.json, `cty: JOSE`) whose plaintext is a compact JWS (RFC 7515; "
            "ES256/ES384/EdDSA/PS256/RS256, `kid` of the partner's key in the partner registry) "
            "whose payload is the report: JSON matching `PartnerSignalV1` "
            "(#/components/schemas/PartnerSignalV1). The same `ce_id` again with the same report "
            "is taken once; with another report it is refused (`conflict`). Limits: the value at "
            f"most {MAX_PARTNER_EVENT_BYTES} bytes; text fields in characters and UTF-8 bytes as "
            "the schema states. Every refusal is told on the partner's own topic "
            "partner.<slug>.rejections.v1."
        ),
        "headers": {
            "type": "object",
            "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
            "properties": {
                "ce_specversion": {"const": "1.0"},
                "ce_id": {"type": "string", "minLength": 1, "description": "the partner's own id"},
                "ce_source": {
                    "type": "string",
                    "pattern": "^urn:signaalpunt:partner:[a-z0-9-]+$",
                    "description": "the partner's URN, as in the partner registry",
                },
                "ce_type": {"const": PartnerSignalV1.cloudevent_type},
                "ce_time": {"type": "string", "format": "date-time"},
                "content-type": {"const": CONTENT_TYPE_JOSE},
            },
        },
        "payload": {
            "type": "string",
            "contentEncoding": "base64url",
            "pattern": COMPACT_JWE,
            "maxLength": MAX_PARTNER_EVENT_BYTES,
            "description": "compact JWE, holding a compact JWS, holding PartnerSignalV1 as JSON",
            "x-signed-payload": {"$ref": "#/components/schemas/PartnerSignalV1"},
        },
        "x-rejection-reasons": REJECTION_REASONS,
        "x-rejections": {
            "channel": "partner.<slug>.rejections.v1 (slug: the last part of the partner's URN)",
            "message": {"$ref": "#/components/messages/partner.signals.rejections.v1:Message"},
        },
    }


class PartnerListedV1(EventPayload):
    """A partner as the partner registry (intake's `signaalpunt-partners`) holds it now, for the
    services that act for partners (notifications delivers refusals to its webhook): no keys,
    no contact, no secrets. The latest per partner counts (a compacted topic keyed by URN)."""

    event_type: ClassVar[str] = "signaalpunt.partner.listed"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "partner": "urn:signaalpunt:partner:huisartsen-de-schelde",
            "name": "Huisartsen De Schelde",
            "partner_type": "huisarts",
            "municipalities": ["GM0715"],
            "webhook_url": "https://his.huisartsen-de-schelde.example/signaalpunt/webhooks",
            "active": True,
            "changed_at": "2026-11-23T10:00:00+01:00",
        },
    )

    partner: str = Field(description="the partner's URN")
    name: str = Field(max_length=200)
    partner_type: str = Field(max_length=60)
    municipalities: tuple[str, ...] = ()
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="where the partner hears its refusals (Standard Webhooks); the signing secret "
        "is not here: notifications holds it in its secret store",
    )
    active: bool = True
    changed_at: AwareDatetime = Field(description="when the registry entry last changed")
