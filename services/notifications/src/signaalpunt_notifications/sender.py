"""The sender: sends due deliveries, one transaction per message, safe with several replicas.

For each message: claim the row (`FOR UPDATE SKIP LOCKED`: another replica skips it), apply quiet
hours and the rate limit (queued, never dropped), open the address (only now, only in memory),
render, send, then mark it sent and stage `notifications.v1` in the outbox — in the transaction
that still holds the claim. A crash before the commit leaves the row pending: it is sent again,
with the same delivery id as Message-ID / webhook-id / SMS reference, so the receiver can tell.
A crash after the commit loses nothing. That is at-least-once towards receivers, exactly-once
in the delivery log, and the only duplicates are recognisable ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from prometheus_client import CollectorRegistry, Counter
from signaalpunt_contracts import Envelope, Topic
from signaalpunt_contracts.notifications import (
    DeliveryStatus,
    MessageChannel,
    NotificationV1,
    RecipientKind,
)
from signaalpunt_privacy import PersonalDataVault, access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_privacy.keys import SubjectErasedError, UnknownSubjectError
from signaalpunt_privacy.vault import TamperedError
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.dead_letters import (
    ATTEMPTS,
    CONSUMER_GROUP,
    ERROR_CLASS,
    ERROR_MESSAGE,
    FAILED_AT,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    SERVICE,
)
from signaalpunt_runtime.failure_log import FailureLog
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.outbox import TRACE_CONTEXT, write_outbox, write_outbox_rows
from uuid_utils.compat import uuid7

from . import repository
from .channels import Channel, Outgoing
from .domain import (
    Directory,
    PermanentSendError,
    QuietHours,
    RateLimit,
    RetryPolicy,
    SendError,
    UnknownMunicipalityError,
    Urgency,
)
from .repository import Delivery
from .templates import Rendered, Templates

log = get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Resolved:
    address: str
    secret: str | None = None


Resolver = Callable[[Mapping[str, str], MessageChannel, datetime], Awaitable[Resolved]]


class AddressBook:
    """Finds a recipient's address at send time, by the kind of reference a rule stored.

    A later service registers a resolver for a new kind; sealed values need none: they open
    with the subject's data key (PersonalDataVault) — and no longer open once it is shredded."""

    def __init__(self, directory: Directory, vault: PersonalDataVault) -> None:
        self.directory = directory
        self.vault = vault
        self._resolvers: dict[str, Resolver] = {
            "sealed": self._sealed,
            "mailbox": self._mailbox,
            "coordinator": self._coordinator,
            "partner": self._partner,
            # an organisation's referral address from the social map (never a person's)
            "organisation": self._organisation,
            # a staff member by staff id (the social worker coupled to a volunteer)
            "staff": self._staff,
        }

    def register(self, kind: str, resolver: Resolver) -> None:
        self._resolvers[kind] = resolver

    async def resolve(
        self, ref: Mapping[str, str], channel: MessageChannel, now: datetime
    ) -> Resolved:
        resolver = self._resolvers.get(ref.get("kind", ""))
        if resolver is None:
            raise PermanentSendError(f"no resolver for address kind {ref.get('kind')!r}")
        return await resolver(ref, channel, now)

    async def _sealed(self, ref: Mapping[str, str], _: MessageChannel, __: datetime) -> Resolved:
        try:
            value = await self.vault.open(UUID(ref["subject_id"]), ref["value"], field=ref["field"])
        except (SubjectErasedError, UnknownSubjectError):
            raise PermanentSendError("the recipient's data key is erased or unknown") from None
        except TamperedError:
            raise PermanentSendError("the sealed address does not open") from None
        return Resolved(value)

    async def _organisation(
        self, ref: Mapping[str, str], channel: MessageChannel, _: datetime
    ) -> Resolved:
        if channel is not MessageChannel.EMAIL:
            raise PermanentSendError("organisations receive referrals by e-mail here")
        return self._configured(ref.get("email"), "the organisation's referral address")

    def _configured(self, address: str | None, what: str) -> Resolved:
        if not address:
            raise PermanentSendError(f"no address configured for {what}")
        return Resolved(address)

    async def _mailbox(
        self, ref: Mapping[str, str], channel: MessageChannel, _: datetime
    ) -> Resolved:
        municipality = self._municipality(ref["municipality"])
        contact = municipality.mailboxes.get(ref["mailbox"])
        what = f"{ref['mailbox']} of {ref['municipality']} ({channel.value})"
        return self._configured(contact.address(channel) if contact else None, what)

    async def _staff(
        self, ref: Mapping[str, str], channel: MessageChannel, _: datetime
    ) -> Resolved:
        """Their own contact when the municipality lists one, else the team welzijn mailbox
        (the social workers' team): a staff id is never an address by itself."""
        municipality = self._municipality(ref["municipality"])
        contact = municipality.staff.get(ref["staff_id"]) or municipality.mailboxes.get(
            "team_welzijn"
        )
        what = f"staff of {ref['municipality']} ({channel.value})"
        return self._configured(contact.address(channel) if contact else None, what)

    async def _coordinator(
        self, ref: Mapping[str, str], channel: MessageChannel, now: datetime
    ) -> Resolved:
        contact = self._municipality(ref["municipality"]).coordinator_on_duty(now)
        what = f"the coordinator of {ref['municipality']} ({channel.value})"
        return self._configured(contact.address(channel), what)

    async def _partner(self, ref: Mapping[str, str], _: MessageChannel, __: datetime) -> Resolved:
        partner = self.directory.partners.get(ref["urn"])
        if partner is None or partner.webhook is None:
            raise PermanentSendError(f"no webhook configured for {ref['urn']}")
        return Resolved(partner.webhook.url, partner.webhook.secret)

    def _municipality(self, code: str) -> Any:
        try:
            return self.directory.municipality(code)
        except UnknownMunicipalityError:
            raise PermanentSendError(f"no configuration for municipality {code}") from None


class SenderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "signaalpunt_notifications_deliveries",
            "Message outcomes by channel, provider (the relay's or gateway's host), status (sent, "
            "queued, retry, failed) and template",
            ["channel", "provider", "status", "template"],
            registry=registry,
        )


@dataclass(frozen=True)
class Policies:
    retry: RetryPolicy
    rate_limit: RateLimit
    quiet_hours: QuietHours
    send_timeout: float


class Sender:
    def __init__(
        self,
        *,
        pool: Callable[[], asyncpg.Pool],
        schema: str,
        producer: str,
        group: str,
        channels: Mapping[MessageChannel, Channel],
        templates: Templates,
        addresses: AddressBook,
        policies: Policies,
        notifications: Topic,
        metrics: SenderMetrics,
        clock: Clock,
        workers: int = 4,
        acute_workers: int = 1,
        poll_interval: float = 0.5,
        tracer: Tracer | None = None,
    ) -> None:
        self._tracer = tracer or trace.get_tracer(__name__)
        self._pool = pool
        self._schema = schema
        self._producer = producer
        self._group = group
        self.channels = channels
        self.templates = templates
        self.addresses = addresses
        self.policies = policies
        self.notifications = notifications
        self.metrics = metrics
        self.clock = clock
        self._workers = workers
        self._acute_workers = acute_workers
        self._poll_interval = poll_interval
        self._stopping = asyncio.Event()
        self._planned = asyncio.Event()  # set by a NOTIFY: messages were planned (and by stop)
        self._tasks: list[asyncio.Task[None]] = []
        self._failure_log = FailureLog("notifications sender")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._tasks = (
            [
                asyncio.create_task(self._work(), name=f"notifications-sender-{i}")
                for i in range(self._workers)
            ]
            + [
                # the acute lane: takes acute messages only, so an alert is sent even while every
                # other sender waits on a slow receiver (ordinary senders also take acute first)
                asyncio.create_task(self._work(acute_only=True), name=f"notifications-acute-{i}")
                for i in range(self._acute_workers)
            ]
            + [asyncio.create_task(self._listen(), name="notifications-sender-wake")]
        )

    async def stop(self) -> None:
        """Let the messages in flight finish (each is bounded by the send timeout)."""
        self._stopping.set()
        self._planned.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _listen(self) -> None:
        """Wake the senders when messages are planned (the planning transaction's NOTIFY, from
        any replica), so a message goes out at once rather than at the next poll. The poll stays:
        for retries and queued messages that fall due, and while this connection is down (then
        this waits and listens again; nothing depends on it but the speed)."""
        while not self._stopping.is_set():
            lost = asyncio.Event()

            def closed(_: object, lost: asyncio.Event = lost) -> None:
                lost.set()

            try:
                async with self._pool().acquire() as conn:
                    conn.add_termination_listener(closed)
                    await conn.add_listener(repository.DELIVERIES_PLANNED, self._wake_senders)
                    try:
                        await _first_of(self._stopping.wait(), lost.wait())
                    finally:
                        if not conn.is_closed():  # the pool keeps listeners: take ours away
                            conn.remove_termination_listener(closed)
                            await conn.remove_listener(
                                repository.DELIVERIES_PLANNED, self._wake_senders
                            )
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down: the workers' own log says so
                log.debug("sender wake-up not listening; polling meanwhile")
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll_interval * 10)

    def _wake_senders(self, *_: object) -> None:
        self._planned.set()

    async def _work(self, *, acute_only: bool = False) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self.send_one(acute_only=acute_only)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # while the database is down every round fails: one line, not one per round
                self._failure_log.failed(exc)
                busy = False
            else:
                self._failure_log.worked()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._planned.wait(), self._poll_interval)
                self._planned.clear()

    # -- one message -------------------------------------------------------------------------

    async def send_one(self, *, acute_only: bool = False) -> bool:
        """Send (or queue, or fail) one due message, an acute one first; False when nothing
        (acute, with `acute_only`) is due."""
        now = self.clock()
        async with self._pool().acquire() as conn, conn.transaction():
            delivery = await repository.claim_due(conn, now, acute_only=acute_only)
            if delivery is None:
                return False
            # in the trace of the event that planned the message: its outcome event (written
            # in this span) continues it, so "acute alert → SMS sent" is one trace
            with self._tracer.start_as_current_span(
                f"send {delivery.template}",
                context=TRACE_CONTEXT.extract(delivery.trace_context),
                kind=SpanKind.CLIENT,
                attributes={
                    "signaalpunt.notification.channel": delivery.channel,
                    "signaalpunt.notification.template": delivery.template,
                },
            ):
                outcome = await self._deliver(conn, delivery, now)
        # counted and logged only once the outcome is committed
        channel = self.channels.get(MessageChannel(delivery.channel))
        provider = channel.provider if channel is not None else delivery.channel
        self.metrics.deliveries.labels(delivery.channel, provider, outcome, delivery.template).inc()
        # retries and re-checks of queued messages can be many (a receiver down for an hour):
        # counted in the metrics, logged only at debug level
        emit = log.debug if outcome in ("retry", "requeued") else log.info
        emit(
            f"message {outcome}",
            delivery_id=str(delivery.delivery_id),
            rule=delivery.rule,
            template=delivery.template,
            channel=delivery.channel,
            recipient_kind=delivery.recipient_kind,
            attempt=delivery.attempts + 1,
        )
        return True

    async def _deliver(self, conn: DbConnection, d: Delivery, now: datetime) -> str:
        channel = MessageChannel(d.channel)
        urgency = Urgency(d.urgency)
        quiet = self.policies.quiet_hours
        if quiet.applies(channel, d.quiet_hours, urgency) and (until := quiet.release_at(now)):
            return await self._queue(conn, d, until, "quiet_hours", now)
        if urgency is not Urgency.ACUTE:
            limit = self.policies.rate_limit
            await repository.lock_recipient(conn, d.recipient)
            recent = await repository.sent_since(conn, d.recipient, now - limit.window, limit.limit)
            if until := limit.release_at(recent, now):
                return await self._queue(conn, d, until, "rate_limit", now)
        try:
            outgoing = await self._prepare(d, channel, now)
            await asyncio.wait_for(
                self.channels[channel].send(outgoing), self.policies.send_timeout
            )
        except PermanentSendError as exc:
            return await self._fail(conn, d, str(exc), now)
        except Exception as exc:  # TransientSendError, a timeout, or a bug: all retried
            # only our own errors' texts are known to be free of personal values
            reason = str(exc) if isinstance(exc, SendError) else type(exc).__name__
            if self.policies.retry.exhausted(d.attempts + 1):
                return await self._fail(conn, d, f"retries exhausted; last: {reason}", now)
            retry_at = self.policies.retry.next_attempt(d.attempts + 1, now)
            await repository.mark_retry(conn, d.delivery_id, retry_at, reason)
            return "retry"
        attempts = await repository.mark_sent(conn, d.delivery_id, now)
        await self._publish(conn, d, DeliveryStatus.SENT, attempts, now)
        if d.signal_id is not None:  # a message about a person went out: logged with it
            await access_log.record(conn, [_message_sent(d)])
        return "sent"

    async def _prepare(self, d: Delivery, channel: MessageChannel, now: datetime) -> Outgoing:
        directory = self.addresses.directory
        try:
            municipality = directory.municipality(d.municipality).template_values(d.language)
        except UnknownMunicipalityError:
            raise PermanentSendError(
                f"no configuration for municipality {d.municipality}"
            ) from None
        rendered = self.templates.render(
            d.template, d.language, channel, d.context, municipality, directory.consortium
        )
        resolved = await self.addresses.resolve(d.address, channel, now)
        payload = None
        if channel is MessageChannel.WEBHOOK:
            payload = self._webhook_payload(d, rendered)
        return Outgoing(
            delivery_id=d.delivery_id,
            address=resolved.address,
            rendered=rendered,
            language=d.language,
            secret=resolved.secret,
            payload=payload,
        )

    @staticmethod
    def _webhook_payload(d: Delivery, rendered: Rendered) -> dict[str, Any]:
        """Standard Webhooks' recommended shape: type, timestamp, data. Stable across resends,
        so a repeated delivery is byte-for-byte the same body under the same webhook-id."""
        data = {k: v for k, v in d.context.items() if k != "webhook_type"}
        return {
            "type": d.context.get("webhook_type", d.template),
            "timestamp": d.created_at.isoformat(),
            "data": {**data, "message": rendered.text, "language": d.language},
        }

    async def _queue(
        self, conn: DbConnection, d: Delivery, until: datetime, why: str, now: datetime
    ) -> str:
        await repository.defer(conn, d.delivery_id, until, why)
        if d.queued_reason != why:  # tell once per reason, not on every check
            await self._publish(conn, d, DeliveryStatus.QUEUED, d.attempts, now)
            return "queued"
        return "requeued"

    async def _fail(self, conn: DbConnection, d: Delivery, error: str, now: datetime) -> str:
        attempts = await repository.mark_failed(conn, d.delivery_id, now, error)
        await self._publish(conn, d, DeliveryStatus.FAILED, attempts, now, error=error)
        await self._dead_letter(conn, d, error, attempts, now)
        return "failed"

    async def _publish(
        self,
        conn: DbConnection,
        d: Delivery,
        status: DeliveryStatus,
        attempts: int,
        now: datetime,
        *,
        error: str | None = None,
    ) -> None:
        outcome = NotificationV1(
            notification_id=d.delivery_id,
            reason_event_id=d.reason_event_id,
            reason_type=d.reason_type,
            signal_id=d.signal_id,
            rule=d.rule,
            template=d.template,
            language=d.language,
            channel=MessageChannel(d.channel),
            recipient_kind=RecipientKind(d.recipient_kind),
            status=status,
            attempts=attempts,
            error=error[:500] if error else None,
            at=now,
        )
        event = Envelope.new(
            outcome,
            municipality=d.municipality,
            producer=self._producer,
            correlation_id=d.correlation_id,
        ).model_copy(update={"causation_id": d.reason_event_id})
        # keyed by the message: its queued → sent/failed events stay in order
        await write_outbox(conn, self._schema, self.notifications, event, key=str(d.delivery_id))

    async def _dead_letter(
        self, conn: DbConnection, d: Delivery, error: str, attempts: int, now: datetime
    ) -> None:
        """The reason goes to `<its topic>.dlq.notifications` with why the message failed,
        through the outbox (so it is parked if and only if the failure is recorded)."""
        kept = await repository.reason(conn, d.reason_event_id)
        if kept is None:
            return
        topic, key, value = kept
        headers = {
            "signaalpunt-event-id": str(d.reason_event_id),
            "signaalpunt-event-type": d.reason_type,
            "content-type": "application/json",
            "notifications-delivery-id": str(d.delivery_id),
            "notifications-template": d.template,
            "notifications-channel": d.channel,
            ERROR_CLASS: "signaalpunt_notifications.DeliveryFailed",
            ERROR_MESSAGE: error[:1000],
            ATTEMPTS: str(attempts),
            ORIGINAL_TOPIC: topic,
            ORIGINAL_PARTITION: "-1",  # the consumer does not keep it; the event id identifies
            ORIGINAL_OFFSET: "-1",
            CONSUMER_GROUP: self._group,
            SERVICE: self._producer,
            FAILED_AT: now.isoformat(),
        }
        await write_outbox_rows(
            conn,
            self._schema,
            [(uuid7(), f"{topic}.dlq.{self._group}", key, value, json.dumps(headers))],
        )


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of `waits` does; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _message_sent(d: Delivery) -> AccessEntry:
    """A message about a person's signal sent to its recipient. The recipient is in the
    delivery log (by kind and id), not here; an address opened from a seal (the reporter's or
    a volunteer's contact) is category `contact`; the message's content is always about the
    case. The subject is the one whose sealed address was opened, when one was."""
    owner = d.address.get("subject_id") if d.address.get("kind") == "sealed" else None
    return AccessEntry.by_system(
        "system:notifications",
        activity="notifications.message_sent",
        operation=Operation.READ,
        municipality=d.municipality,
        signal_id=d.signal_id,
        subject_id=UUID(owner) if owner else None,
        categories=(DataCategory.CASE, *((DataCategory.CONTACT,) if owner else ())),
        purpose=Purpose.SIGNAL_HANDLING,
    )
