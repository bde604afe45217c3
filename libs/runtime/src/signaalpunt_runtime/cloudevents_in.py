"""Partner events: CloudEvents in Kafka binary mode (`ce_` headers), decoded with the
`cloudevents` library for a consumer stage.

`ce_source` (the partner's URN) and `ce_id` (the partner's own id) together are the partner's
idempotency key: the stage's inbox key is a UUIDv5 of the pair, so the same source and id twice
is handled once, whenever it arrives.

    @service.consumer(PARTNER_SIGNALS, decode=decoder(PartnerSignalV1), on_dead_letter=…)
    async def on_partner_signal(event: PartnerEvent[PartnerSignalV1], work: UnitOfWork): …
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

from aiokafka import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from signaalpunt_contracts import EventPayload

from .consumer import InvalidMessageError

PARTNER_EVENTS = UUID("6f1b2c9e-3d57-4c55-9f4e-0a1d2b3c4d5e")
"""Namespace of the UUIDv5 inbox keys of partner events (fixed: changing it breaks dedupe)."""

ModelT = TypeVar("ModelT", bound=EventPayload)


@dataclass(frozen=True)
class PartnerEvent(Generic[ModelT]):
    event_id: UUID
    source: str
    id: str
    type: str
    time: datetime
    data: ModelT


def partner_event_id(source: str, event_id: str) -> UUID:
    return uuid5(PARTNER_EVENTS, f"{source}\x1f{event_id}")


def ce_attributes(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """The `ce_` headers of a record (for telling a partner which event was refused)."""
    return {
        key[3:]: value.decode(errors="replace")
        for key, value in (record.headers or ())
        if key.lower().startswith("ce_")
    }


def decoder(
    model: type[ModelT],
    *,
    types: tuple[str, ...] | None = None,
    decrypt: Callable[[bytes], bytes] | None = None,
) -> Callable[[bytes, ConsumerRecord[bytes, bytes]], PartnerEvent[ModelT]]:
    """With `decrypt`, values must be encrypted (`content-type: application/jose`): a plain value
    is refused, and the decrypted JSON is what is validated."""
    accepted = types or (getattr(model, "cloudevent_type", model.event_type),)

    def decode(body: bytes, record: ConsumerRecord[bytes, bytes]) -> PartnerEvent[ModelT]:
        headers = dict(record.headers or ())
        if decrypt is not None:
            if headers.get("content-type") != b"application/jose":
                raise InvalidMessageError("not_encrypted: values must be a JWE for intake's key")
            try:
                body = decrypt(body)
            except ValueError as exc:
                raise InvalidMessageError(f"not_decryptable: {exc}") from exc
            headers["content-type"] = b"application/json"
        try:
            event = from_binary(
                KafkaMessage(headers=headers, key=record.key, value=body), JSONFormat()
            )
            source, event_id, kind = event.get_source(), event.get_id(), event.get_type()
        except Exception as exc:  # the library's errors differ per problem: all mean "not valid"
            raise InvalidMessageError(
                f"not a CloudEvent in Kafka binary mode ({type(exc).__name__})"
            ) from exc
        if kind not in accepted:
            raise InvalidMessageError(f"unexpected CloudEvent type {kind!r}")
        data: Any = event.get_data()
        return PartnerEvent(
            event_id=partner_event_id(source, event_id),
            source=source,
            id=event_id,
            type=kind,
            time=event.get_time() or datetime.now().astimezone(),
            data=model.model_validate(data),
        )

    return decode
