"""Partner systems over Kafka: CloudEvents on partner.signals.v1 in, a rejection out when refused.

A refused event goes to the dead-letter topic (with the reason, as every dead letter) and the
partner hears why on partner.signals.rejections.v1, by its own event id: field names and error
types, never the values it sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from signaalpunt_contracts import (
    Channel,
    FieldError,
    PartnerSignalRejectedV1,
    PartnerSignalV1,
    Topic,
)
from signaalpunt_privacy.partner_encryption import PartnerDecrypter
from signaalpunt_runtime import PermanentError, UnitOfWork
from signaalpunt_runtime.cloudevents_in import PartnerEvent, ce_attributes, decoder
from signaalpunt_runtime.consumer import InvalidMessageError

from .domain import OutsideConsortiumError, settle_municipality
from .recording import Intake, Origin, PreparedSignal, prepare_signal, store_signals


class RefusalError(PermanentError):
    """A partner event intake will not take, with a reason code the partner can act on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


REASONS = ("not_encrypted", "not_decryptable")


def register_partner_channel(
    intake: Intake, topic: Topic, rejections: Topic, decrypter: PartnerDecrypter
) -> None:
    async def tell_partner(record: ConsumerRecord[bytes, bytes], error: BaseException) -> None:
        attributes = ce_attributes(record)
        partner = intake.partners.get(attributes.get("source", ""))
        if partner is None:
            return  # nobody to tell: an unknown sender only reaches the dead-letter topic
        fields: tuple[FieldError, ...] = ()
        if isinstance(error, RefusalError):
            reason, detail = error.reason, error.detail
        elif isinstance(error, ValidationError):
            reason, detail = "invalid", f"{error.error_count()} validation error(s)"
            fields = tuple(
                FieldError(
                    field=".".join(str(p) for p in e["loc"]) or "<data>",
                    type=e["type"],
                    reason=e["msg"],
                )
                for e in error.errors(include_input=False, include_url=False, include_context=False)
            )
        elif isinstance(error, InvalidMessageError):
            code = str(error).split(":", 1)[0]
            reason, detail = (code if code in REASONS else "invalid"), str(error)
        else:
            reason, detail = "not_processed", type(error).__name__
        async with intake.service.transaction() as work:
            rejection = PartnerSignalRejectedV1(
                partner=partner.urn,
                partner_event_id=attributes.get("id", ""),
                reason=reason,
                detail=detail[:1000],
                field_errors=fields,
                rejected_at=datetime.now(UTC),
            )
            event = work.new_event(rejection, municipality=partner.municipalities[0])
            await work.publish(rejections, event, key=partner.urn)

    def prepared(event: PartnerEvent[PartnerSignalV1]) -> PreparedSignal:
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
        origin = Origin(
            channel=Channel.PARTNER_EVENT,
            submitted_by=partner.urn,
            partner=partner.urn,
            partner_type=partner.partner_type,
            partner_reference=f"{event.source}#{event.id}",
        )
        return prepare_signal(intake, event.data, origin, municipality)

    @intake.service.consumer(
        topic,
        group="intake",
        # a burst from a partner (a GP system catching up) is stored in one transaction per
        # batch, with one statement per table for the whole batch; a refused event rolls its
        # batch back and the batch is handled one by one
        batch_size=intake.settings.partner_batch_size,
        as_list=True,
        decode=decoder(PartnerSignalV1, decrypt=decrypter.decrypt),
        on_dead_letter=tell_partner,
    )
    async def on_partner_signals(
        events: list[PartnerEvent[PartnerSignalV1]], work: UnitOfWork
    ) -> None:
        await store_signals(intake, work, [prepared(event) for event in events])
