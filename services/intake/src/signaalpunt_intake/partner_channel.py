"""Partner systems over Kafka: CloudEvents on partner.signals.v1 in, a rejection out when refused.

A refused event goes to the dead-letter topic (with the reason, as every dead letter) and the
partner hears why on its own topic partner.<slug>.rejections.v1 (and the signal point's services
on partner.signals.rejections.v1), by its own event id: a reason code (`REJECTION_REASONS` in
the contracts), field names and error types, never the values it sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from signaalpunt_contracts import (
    Channel,
    FieldError,
    PartnerSignalRejectedV1,
    Topic,
    TopicSpec,
    partner_rejections_topic,
)
from signaalpunt_privacy.partner_encryption import PartnerKeyring
from signaalpunt_runtime import PermanentError, UnitOfWork
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.topic_admin import ensure_topics

from . import repository
from .domain import OutsideConsortiumError, Partner, settle_municipality
from .partner_events import (
    PartnerEvent,
    RefusedEventError,
    claimed_partner,
    headers_of,
    partner_decoder,
)
from .recording import Intake, Origin, PreparedSignal, prepare_signal, store_signals

log = get_logger(__name__)


class PartnerTopics:
    """Each partner's own rejection topic (`partner.<slug>.rejections.v1`), made before intake
    first writes to it: an event staged for a missing topic would hold up the outbox."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._made: set[str] = set()

    async def rejections(self, urn: str) -> Topic | None:
        topic = partner_rejections_topic(urn, prefix=self._prefix)
        if topic.name not in self._made:
            spec = TopicSpec(topic.name, topic.partitions, topic.topic_config())
            try:
                await ensure_topics(self._bootstrap, [spec])
            except Exception as exc:
                log.warning("partner topic not made", topic=topic.name, error=type(exc).__name__)
                return None
            self._made.add(topic.name)
        return topic


class RefusalError(PermanentError):
    """A partner event the handler will not take, with a reason code the partner can act on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _rejection(
    record: ConsumerRecord[bytes, bytes], error: BaseException
) -> tuple[str, str, str, str, tuple[FieldError, ...]]:
    """(partner, event id, reason, detail, field errors) for a refused event."""
    partner, event_id = claimed_partner(record), headers_of(record).get("ce_id", "")
    if isinstance(error, RefusedEventError):
        return error.partner, error.event_id, error.reason, error.detail, ()
    if isinstance(error, RefusalError):
        return partner, event_id, error.reason, error.detail, ()
    if isinstance(error, ValidationError):
        fields = tuple(
            FieldError(
                field=".".join(str(p) for p in e["loc"]) or "<report>",
                type=e["type"],
                reason=e["msg"],
            )
            for e in error.errors(include_input=False, include_url=False, include_context=False)
        )
        return partner, event_id, "invalid", f"{error.error_count()} validation error(s)", fields
    return partner, event_id, "not_processed", type(error).__name__, ()


def admitted(intake: Intake, event: PartnerEvent) -> tuple[Partner, str]:
    """The partner and the event's municipality, once the partner may report there."""
    partner = intake.partners.get(event.source)
    if partner is None:
        raise RefusalError("unknown_partner", f"{event.source} is not a registered partner")
    try:
        municipality = settle_municipality(event.data, intake.municipalities)
    except OutsideConsortiumError as exc:
        raise RefusalError(
            "outside_consortium",
            f"postcode area {exc.postcode_area} is outside this signal point",
        ) from exc
    except ValueError as exc:
        raise RefusalError("invalid", str(exc)) from exc
    if municipality not in partner.municipalities:
        raise RefusalError("not_authorised", f"{partner.urn} may not report for {municipality}")
    return partner, municipality


def admitting_decoder(
    intake: Intake, keyring: PartnerKeyring
) -> Callable[[bytes, ConsumerRecord[bytes, bytes]], PartnerEvent]:
    """The partner decoder, also refusing what the registry and the municipalities refuse:
    refused while decoding, not in the handler, a refusal never rolls back the batch of other
    partners' events it arrived with (issue 16)."""
    decode = partner_decoder(
        keyring,
        intake.partners,  # type: ignore[arg-type]
        lambda partner, event_id, report: intake.index.digest(
            "partner-event", partner, event_id, report
        ),
    )

    def decode_admitted(body: bytes, record: ConsumerRecord[bytes, bytes]) -> PartnerEvent:
        event = decode(body, record)
        try:
            admitted(intake, event)
        except RefusalError as exc:
            raise RefusedEventError(
                exc.reason, exc.detail, partner=event.source, event_id=event.id
            ) from exc
        return event

    return decode_admitted


def register_partner_channel(
    intake: Intake,
    topic: Topic,
    rejections: Topic,
    keyring: PartnerKeyring,
    partner_topics: PartnerTopics,
) -> None:
    async def tell_partner(
        record: ConsumerRecord[bytes, bytes], error: BaseException, work: UnitOfWork
    ) -> None:
        urn, event_id, reason, detail, fields = _rejection(record, error)
        partner = intake.partners.get(urn)
        if partner is None:
            return  # nobody to tell: an unknown sender only reaches the dead-letter topic
        # the spine's own transaction for this refusal: through the outbox, once per message,
        # and it waits out a database outage instead of being lost
        own = await partner_topics.rejections(partner.urn)
        rejection = PartnerSignalRejectedV1(
            partner=partner.urn,
            partner_event_id=event_id,
            reason=reason,
            detail=detail[:1000],
            field_errors=fields,
            rejected_at=datetime.now(UTC),
        )
        # the shared topic for the signal point's services; the partner's own for the partner:
        # one event each (an outbox row per event id)
        municipality = partner.municipalities[0]
        for target in (rejections, own) if own is not None else (rejections,):
            event = work.new_event(rejection, municipality=municipality)
            await work.publish(target, event, key=partner.urn)

    def prepared(event: PartnerEvent) -> PreparedSignal:
        partner, municipality = admitted(intake, event)
        origin = Origin(
            channel=Channel.PARTNER_EVENT,
            submitted_by=partner.urn,
            partner=partner.urn,
            partner_type=partner.partner_type,
            partner_reference=f"{event.source}#{event.id}",
        )
        return prepare_signal(
            intake, event.data, origin, municipality, received_at=event.received_at
        )

    async def new_events(events: list[PartnerEvent], work: UnitOfWork) -> list[PartnerEvent]:
        """The events not taken before; a changed resend of a taken one is a conflict."""
        earlier = await repository.earlier_partner_events(
            work.connection, {(e.source, e.id) for e in events}
        )
        fresh: dict[tuple[str, str], PartnerEvent] = {}
        for event in events:
            key = (event.source, event.id)
            first = earlier.get(key)
            if first is not None and first.content_digest not in (None, event.digest):
                raise RefusalError(
                    "conflict",
                    f"event {event.id} was taken before with other content, as signal "
                    f"{first.signal_id} at {first.received_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
                    "; send a correction as a new event with its own ce_id",
                )
            if first is not None:
                continue  # the same event again
            if key in fresh and fresh[key].digest != event.digest:
                # both in this batch: handled one by one, the second is then a conflict
                raise RefusalError("conflict", f"event {event.id} twice with other content")
            fresh.setdefault(key, event)
        return list(fresh.values())

    @intake.service.consumer(
        topic,
        group="intake",
        # a burst from a partner (a GP system catching up) is stored in one transaction per
        # batch, with one statement per table for the whole batch; a refused event rolls its
        # batch back and the batch is handled one by one
        batch_size=intake.settings.partner_batch_size,
        as_list=True,
        decode=admitting_decoder(intake, keyring),
        on_dead_letter=tell_partner,
    )
    async def on_partner_signals(events: list[PartnerEvent], work: UnitOfWork) -> None:
        fresh = await new_events(events, work)
        stored = await store_signals(intake, work, [prepared(event) for event in fresh])
        await repository.record_partner_events(
            work.connection,
            [
                (e.source, e.id, e.digest, s.signal_id, s.received_at)
                for e, s in zip(fresh, stored, strict=True)
            ],
        )
