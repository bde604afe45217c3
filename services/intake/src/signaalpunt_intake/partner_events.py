"""Reading a partner's event: CloudEvents in Kafka binary mode, the value a JWE to intake's key.

Every way an event can be wrong gets its own refusal reason (`RefusedEventError`), named so the
partner can act on it; the checks run in the order a partner's integrator would fix them. A
plaintext value that is refused is not kept readable: the dead-letter topic keeps it encrypted to
intake's key.

The inbox key of an event is a UUIDv5 of the partner, its event id and a keyed digest of the
report: the same event twice is handled once, and a changed resend under the same id reaches the
handler, which refuses it as a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from aiokafka import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from pydantic import ValidationError
from signaalpunt_contracts import PartnerSignalV1
from signaalpunt_privacy.partner_encryption import (
    CONTENT_TYPE,
    MAX_JWE_BYTES,
    NotDecryptableError,
    PartnerKeyring,
    SignatureError,
    UnknownKeyError,
    encrypt_for_intake,
    signed_header,
    verify,
)
from signaalpunt_runtime.dead_letters import first_received_at
from signaalpunt_runtime.failures import InvalidMessageError

from .partner_registry import PartnerRegistry

PARTNER_EVENTS = UUID("6f1b2c9e-3d57-4c55-9f4e-0a1d2b3c4d5e")
"""Namespace of the UUIDv5 inbox keys of partner events (fixed: changing it breaks dedupe)."""

REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")
BINARY_MODE = (
    "send binary mode: the attributes as ce_ headers (ce_specversion 1.0, ce_id, ce_source, "
    f"ce_type, ce_time), content-type {CONTENT_TYPE} and the report as a JWE to intake's key"
)


class RefusedEventError(InvalidMessageError):
    """A partner event intake will not take, with a reason code the partner can act on.

    `partner` is who claims to have sent it (ce_source, or the Kafka key when that header is
    missing); `dead_letter_value` replaces a plaintext value in the dead-letter topic.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        partner: str,
        event_id: str,
        dead_letter_value: bytes | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.partner = partner
        self.event_id = event_id
        self.dead_letter_value = dead_letter_value


@dataclass(frozen=True)
class PartnerEvent:
    event_id: UUID  # the inbox key
    source: str
    id: str
    type: str
    time: datetime
    data: PartnerSignalV1
    digest: str  # keyed digest of the report, to tell a changed resend from a retry
    received_at: datetime | None = None
    """When a copy replayed from the dead-letter topic first arrived (None: now)."""


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {
        key.lower(): value.decode(errors="replace")
        for key, value in (record.headers or ())
        if value is not None
    }


def claimed_partner(record: ConsumerRecord[bytes, bytes]) -> str:
    """Who the event says it is from: ce_source, else the Kafka key (the partner's URN)."""
    headers = headers_of(record)
    return headers.get("ce_source") or (record.key or b"").decode(errors="replace")


def _structured_id(value: bytes) -> str:
    try:
        parsed = json.loads(value) if len(value) <= MAX_JWE_BYTES else None
    except ValueError:
        return ""
    event_id = parsed.get("id") if isinstance(parsed, dict) else None
    return event_id if isinstance(event_id, str) else ""


def _verified_by(partners: PartnerRegistry, signed: bytes, source: str, event_id: str) -> bytes:
    """The report inside a partner's JWS, once it verifies with a key of the partner ce_source
    names. Signed with another partner's key: refused as impersonation, told to the signer."""
    header = signed_header(signed)
    if header is None:
        raise RefusedEventError(
            "not_signed",
            "the JWE must hold a compact JWS of the report, signed with a key of yours that the "
            "partner registry holds (JWS header kid), not the bare report",
            partner=source,
            event_id=event_id,
        )
    partner = partners.get(source)
    if partner is None:
        raise RefusedEventError(
            "unknown_partner",
            f"{source} is not a registered partner",
            partner=source,
            event_id=event_id,
        )
    kid = header.get("kid")
    key = partner.signing_key(kid)
    if key is None:
        for signer, their_key in partners.signers_of(kid):
            try:
                verify(signed, their_key)
            except SignatureError:
                continue
            raise RefusedEventError(
                "impersonation",
                f"signed with key {kid!r} of {signer.urn}, but ce_source names {source}",
                partner=signer.urn,
                event_id=event_id,
            )
        raise RefusedEventError(
            "unknown_signing_key",
            f"the partner registry holds no signing key {kid!r} for {source}; "
            "ask the signal point to register your new key before you use it",
            partner=source,
            event_id=event_id,
        )
    try:
        return verify(signed, key)
    except SignatureError as exc:
        raise RefusedEventError(
            "bad_signature",
            f"{exc} with key {kid!r} of {source}",
            partner=source,
            event_id=event_id,
        ) from exc


def partner_decoder(
    keyring: PartnerKeyring, partners: PartnerRegistry, digest: Callable[[str, str, str], str]
) -> Callable[[bytes, ConsumerRecord[bytes, bytes]], PartnerEvent]:
    """`digest(partner, event id, report JSON)`: keyed, so a digest tells nothing of the report."""
    accepted = PartnerSignalV1.cloudevent_type

    def decode(body: bytes, record: ConsumerRecord[bytes, bytes]) -> PartnerEvent:
        headers = headers_of(record)
        partner = claimed_partner(record)
        event_id = headers.get("ce_id", "")
        content_type = headers.get("content-type", "")
        encrypted = content_type == CONTENT_TYPE

        def refuse(reason: str, detail: str) -> RefusedEventError:
            # a plaintext value is kept in the dead-letter topic only encrypted to intake's key
            kept = None if encrypted else encrypt_for_intake(body, keyring.public_jwks())
            return RefusedEventError(
                reason, detail, partner=partner, event_id=event_id, dead_letter_value=kept
            )

        if content_type.startswith("application/cloudevents"):
            event_id = _structured_id(body)
            raise refuse(
                "structured_mode",
                f"structured mode ({content_type}) is not accepted; {BINARY_MODE}",
            )
        missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
        if missing:
            raise refuse(
                "not_a_cloudevent", f"missing header(s) {', '.join(missing)}; {BINARY_MODE}"
            )
        if headers["ce_specversion"] != "1.0":
            raise refuse("not_a_cloudevent", "ce_specversion must be 1.0")
        if headers["ce_type"] != accepted:
            raise refuse("unexpected_type", f"ce_type must be {accepted}")
        if not encrypted:
            raise refuse(
                "not_encrypted",
                f"content-type must be {CONTENT_TYPE}: the value a JWE to intake's key",
            )
        if len(body) > MAX_JWE_BYTES:
            raise refuse(
                "too_large",
                f"the value is {len(body)} bytes; the limit is {MAX_JWE_BYTES} bytes "
                "(the compact JWE); a report within the schema's limits always fits",
            )
        try:
            plaintext = keyring.decrypt(body)
        except UnknownKeyError as exc:
            raise refuse("unknown_key", str(exc)) from exc
        except NotDecryptableError as exc:
            raise refuse("not_decryptable", str(exc)) from exc
        report = _verified_by(partners, plaintext, headers["ce_source"], event_id)
        try:
            data = PartnerSignalV1.model_validate_json(report)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            if first["type"] == "json_invalid":
                raise refuse(
                    "malformed_json", f"the decrypted report is not valid JSON: {first['msg']}"
                ) from exc
            if first["type"] == "model_type" and not first["loc"]:
                raise refuse("invalid", "the decrypted report must be a JSON object") from exc
            raise
        try:
            event = from_binary(
                KafkaMessage(
                    headers={**dict(record.headers or ()), "content-type": b"application/json"},
                    key=record.key,
                    value=b"{}",
                ),
                JSONFormat(),
            )
            time = event.get_time() or datetime.now().astimezone()
        except Exception as exc:  # the library's errors differ per problem: all mean "not valid"
            raise refuse(
                "not_a_cloudevent", f"the ce_ headers are not valid ({type(exc).__name__})"
            ) from exc
        source, ce_id = headers["ce_source"], headers["ce_id"]
        content = digest(source, ce_id, data.model_dump_json())
        return PartnerEvent(
            event_id=uuid5(PARTNER_EVENTS, f"{source}\x1f{ce_id}\x1f{content}"),
            source=source,
            id=ce_id,
            type=headers["ce_type"],
            time=time,
            data=data,
            digest=content,
            received_at=first_received_at(record),
        )

    return decode
