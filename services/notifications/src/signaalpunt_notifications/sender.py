"""The sender: sends due deliveries in batches, one transaction per batch, safe with several
replicas.

For each batch: claim the rows (`FOR UPDATE SKIP LOCKED`: another replica skips them), apply
quiet hours and the rate limit (queued, never dropped), open each address (only now, only in
memory), render, send, then mark them sent and stage their `notifications.v1` events in the
outbox, in the transaction that still holds the claim. A crash before the commit leaves the
rows pending: they are sent again, with the same delivery id as Message-ID / webhook-id / SMS
reference, so the receiver can tell. A crash after the commit loses nothing. That is
at-least-once towards receivers, exactly-once in the delivery log, and the only duplicates are
recognisable ones. A batch commits when its slowest send has finished (each is bounded by the
send timeout): one statement per kind of outcome instead of a transaction per message (issue 22).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
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
from signaalpunt_privacy.vault import Opener, TamperedError
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
from signaalpunt_runtime.outbox import TRACE_CONTEXT, OutboxRow, outbox_row, write_outbox_rows
from signaalpunt_runtime.periodic import PeriodicJob
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
        self,
        ref: Mapping[str, str],
        channel: MessageChannel,
        now: datetime,
        *,
        opener: Opener | None = None,
    ) -> Resolved:
        """`opener`: the data keys of a round's sealed addresses, fetched together
        (`opener_for`); without it a sealed address fetches its own key."""
        kind = ref.get("kind", "")
        if kind == "sealed" and opener is not None:
            return _opened(opener, ref)
        resolver = self._resolvers.get(kind)
        if resolver is None:
            raise PermanentSendError(f"no resolver for address kind {ref.get('kind')!r}")
        return await resolver(ref, channel, now)

    async def opener_for(self, refs: Iterable[Mapping[str, str]]) -> Opener:
        """The data keys of the sealed addresses among `refs` in one round trip to the key
        store: a key fetch (and a pool connection) per SMS to a reporter was most of the key
        store's statements at a steady rate (issue 22)."""
        subjects: set[UUID] = set()
        for ref in refs:
            if ref.get("kind") == "sealed":
                # a reference that does not parse fails its own message when it is opened,
                # not the round: one bad row must not hold back every message claimed with it
                with contextlib.suppress(KeyError, ValueError):
                    subjects.add(UUID(ref["subject_id"]))
        return await self.vault.opener(subjects)

    async def _sealed(self, ref: Mapping[str, str], _: MessageChannel, __: datetime) -> Resolved:
        return _opened(await self.opener_for([ref]), ref)

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
        batch_size: int = 50,
        in_flight: int = 16,
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
        self._batch_size = batch_size
        # sends at once across this replica's senders (each SMTP send holds a session)
        self._in_flight = asyncio.Semaphore(in_flight)
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
                busy = await self.send_due(acute_only=acute_only) > 0
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

    # -- a batch of messages ------------------------------------------------------------------

    async def send_due(self, *, acute_only: bool = False) -> int:
        """Send (or queue, or fail) up to a batch of due messages, acute ones first, in one
        transaction; how many were claimed (0: nothing, or nothing acute with `acute_only`, due).

        The batch is claimed, held back where quiet hours or the rate limit say so, sent (one
        recipient's messages in order, different recipients at once), and its outcomes written
        with one statement per kind — then committed. A crash before the commit leaves every
        message of the batch pending: each is sent again under its own delivery id."""
        now = self.clock()
        async with self._pool().acquire() as conn, conn.transaction():
            batch = await repository.claim_due(conn, now, self._batch_size, acute_only=acute_only)
            if not batch:
                return 0
            # each message in the trace of the event that planned it: its outcome event
            # continues that trace, so "acute alert → SMS sent" is one trace
            r = _Round(conn, now, {d.delivery_id: self._span(d) for d in batch})
            try:
                to_send = await self._hold_back(r, batch)
                r.opener = await self.addresses.opener_for(d.address for d in to_send)
                await self._record(r, await self._send_all(r, to_send))
                await write_outbox_rows(conn, self._schema, r.outbox)
                await access_log.record(conn, r.access)
            finally:
                for span in r.spans.values():
                    span.end()
        # counted and logged only once the outcomes are committed
        for d in batch:
            if (outcome := r.outcomes.get(d.delivery_id)) is not None:
                self._tell(d, outcome)
        return len(batch)

    def _span(self, d: Delivery) -> Span:
        return self._tracer.start_span(
            f"send {d.template}",
            context=TRACE_CONTEXT.extract(d.trace_context),
            kind=SpanKind.CLIENT,
            attributes={
                "signaalpunt.notification.channel": d.channel,
                "signaalpunt.notification.template": d.template,
            },
        )

    def _tell(self, d: Delivery, outcome: str) -> None:
        channel = self.channels.get(MessageChannel(d.channel))
        provider = channel.provider if channel is not None else d.channel
        self.metrics.deliveries.labels(d.channel, provider, outcome, d.template).inc()
        # retries and re-checks of queued messages can be many (a receiver down for an hour):
        # counted in the metrics, logged only at debug level
        emit = log.debug if outcome in ("retry", "requeued") else log.info
        emit(
            f"message {outcome}",
            delivery_id=str(d.delivery_id),
            rule=d.rule,
            template=d.template,
            channel=d.channel,
            recipient_kind=d.recipient_kind,
            attempt=d.attempts + 1,
        )

    async def _hold_back(self, r: _Round, batch: list[Delivery]) -> list[Delivery]:
        """Queue what quiet hours or the rate limit hold back (never dropped); the rest is to be
        sent, each recipient's in line order. The rate limit counts the batch's own messages."""
        quiet = self.policies.quiet_hours
        limit = self.policies.rate_limit
        to_send: list[Delivery] = []
        ordinary: list[Delivery] = []
        for d in batch:
            channel, urgency = MessageChannel(d.channel), Urgency(d.urgency)
            if quiet.applies(channel, d.quiet_hours, urgency) and (
                until := quiet.release_at(r.now)
            ):
                await self._queue(r, d, until, "quiet_hours")
            elif urgency is Urgency.ACUTE:
                to_send.append(d)
            else:
                ordinary.append(d)
        if ordinary:
            # the claim holds every ordinary recipient's lock: these counts stay true
            by_recipient: dict[str, list[Delivery]] = {}
            for d in ordinary:
                by_recipient.setdefault(d.recipient, []).append(d)
            since = r.now - limit.window
            sent = await repository.sent_in_window(r.conn, list(by_recipient), since, limit.limit)
            for recipient, waiting in by_recipient.items():
                count, oldest = sent.get(recipient, (0, None))
                admitted, until = limit.admit(count, oldest, len(waiting), r.now)
                to_send += waiting[:admitted]  # the first in line
                for d in waiting[admitted:]:
                    await self._queue(r, d, until or r.now, "rate_limit")
        return to_send

    async def _send_all(self, r: _Round, to_send: list[Delivery]) -> list[_Attempt]:
        """Send, in chains that go at the same time; a chain's messages one after another, in
        order (after a failure the rest wait for the next round). A partner's endpoint gets one
        chain: its messages in order, one at a time. An e-mail or SMS recipient gets one chain
        per case: a team mailbox that is told about every signal of a municipality takes its
        messages at once (the relay does), each case's still in order."""
        chains: dict[tuple[str, UUID | None], list[Delivery]] = {}
        for d in to_send:
            case = None if d.channel == MessageChannel.WEBHOOK.value else d.signal_id
            chains.setdefault((d.recipient, case), []).append(d)

        async def in_order(deliveries: list[Delivery]) -> list[_Attempt]:
            attempts: list[_Attempt] = []
            for d in deliveries:
                async with self._in_flight:
                    with trace.use_span(r.spans[d.delivery_id], end_on_exit=False):
                        attempt = await self._attempt(d, r)
                attempts.append(attempt)
                if attempt.outcome != "sent":
                    break
            return attempts

        done = await asyncio.gather(*(in_order(ds) for ds in chains.values()))
        return [attempt for attempts in done for attempt in attempts]

    async def _attempt(self, d: Delivery, r: _Round) -> _Attempt:
        """Open the address (only now, only in memory), render and send one message."""
        channel = MessageChannel(d.channel)
        try:
            outgoing = await self._prepare(d, channel, r.now, r.opener)
            await asyncio.wait_for(
                self.channels[channel].send(outgoing), self.policies.send_timeout
            )
        except PermanentSendError as exc:
            return _Attempt(d, "failed", str(exc))
        except Exception as exc:  # TransientSendError, a timeout, or a bug: all retried
            # only our own errors' texts are known to be free of personal values
            reason = str(exc) if isinstance(exc, SendError) else type(exc).__name__
            if self.policies.retry.exhausted(d.attempts + 1):
                return _Attempt(d, "failed", f"retries exhausted; last: {reason}")
            return _Attempt(d, "retry", reason)
        return _Attempt(d, "sent")

    async def _record(self, r: _Round, attempts: list[_Attempt]) -> None:
        sent = [a.delivery for a in attempts if a.outcome == "sent"]
        if sent:
            await repository.mark_sent(r.conn, [d.delivery_id for d in sent], r.now)
            # what the rate limit counts: ordinary messages, each counted under its recipient's
            # claim lock (an acute message is neither limited nor counted, so the acute lane
            # never waits for an ordinary round's count)
            if ordinary := [d.recipient for d in sent if d.urgency != Urgency.ACUTE.value]:
                await repository.count_sends(r.conn, ordinary, r.now)
        for d in sent:
            r.outcomes[d.delivery_id] = "sent"
            # the row was claimed with its attempts so far: this was one more
            self._publish(r, d, DeliveryStatus.SENT, d.attempts + 1)
            if d.signal_id is not None:  # a message about a person went out: logged with it
                with trace.use_span(r.spans[d.delivery_id], end_on_exit=False):
                    r.access.append(_message_sent(d))
        for a in attempts:
            d = a.delivery
            if a.outcome == "retry":
                retry_at = self.policies.retry.next_attempt(d.attempts + 1, r.now)
                await repository.mark_retry(r.conn, d.delivery_id, retry_at, a.error or "")
                r.outcomes[d.delivery_id] = "retry"
            elif a.outcome == "failed":
                await self._fail(r, d, a.error or "")

    async def _prepare(
        self, d: Delivery, channel: MessageChannel, now: datetime, opener: Opener | None = None
    ) -> Outgoing:
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
        resolved = await self.addresses.resolve(d.address, channel, now, opener=opener)
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

    async def _queue(self, r: _Round, d: Delivery, until: datetime, why: str) -> None:
        await repository.defer(r.conn, d.delivery_id, until, why)
        if d.queued_reason != why:  # tell once per reason, not on every check
            self._publish(r, d, DeliveryStatus.QUEUED, d.attempts)
            r.outcomes[d.delivery_id] = "queued"
        else:
            r.outcomes[d.delivery_id] = "requeued"

    async def _fail(self, r: _Round, d: Delivery, error: str) -> None:
        attempts = await repository.mark_failed(r.conn, d.delivery_id, r.now, error)
        self._publish(r, d, DeliveryStatus.FAILED, attempts, error=error)
        await self._dead_letter(r, d, error, attempts)
        r.outcomes[d.delivery_id] = "failed"

    def _publish(
        self,
        r: _Round,
        d: Delivery,
        status: DeliveryStatus,
        attempts: int,
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
            at=r.now,
        )
        event = Envelope.new(
            outcome,
            municipality=d.municipality,
            producer=self._producer,
            correlation_id=d.correlation_id,
        ).model_copy(update={"causation_id": d.reason_event_id})
        # keyed by the message: its queued → sent/failed events stay in order
        r.outbox.append(
            outbox_row(
                self.notifications,
                event,
                key=str(d.delivery_id),
                context=trace.set_span_in_context(r.spans[d.delivery_id]),
            )
        )

    async def _dead_letter(self, r: _Round, d: Delivery, error: str, attempts: int) -> None:
        """The reason goes to `<its topic>.dlq.notifications` with why the message failed,
        through the outbox (so it is parked if and only if the failure is recorded)."""
        kept = await repository.reason(r.conn, d.reason_event_id)
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
            FAILED_AT: r.now.isoformat(),
        }
        r.outbox.append((uuid7(), f"{topic}.dlq.{self._group}", key, value, json.dumps(headers)))


class SendCountPruner(PeriodicJob):
    """Drops the rate limit's counts once no window reaches them (every minute: they are
    small, one row per recipient per minute they were sent to)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        window: Callable[[], timedelta],
        clock: Callable[[], datetime],
        *,
        interval: float = 60,
    ) -> None:
        super().__init__("rate limit counts", interval=interval)
        self._pool, self._window, self._clock = pool, window, clock

    async def run(self, now: datetime | None = None) -> int:
        at = now or self._clock()
        async with self._pool().acquire() as conn:
            return await repository.forget_sends_before(conn, at - self._window())


@dataclass
class _Attempt:
    delivery: Delivery
    outcome: str
    """sent, retry or failed"""
    error: str | None = None


def _opened(opener: Opener, ref: Mapping[str, str]) -> Resolved:
    try:
        value = opener.open(UUID(ref["subject_id"]), ref["value"], field=ref["field"])
    except (SubjectErasedError, UnknownSubjectError):
        raise PermanentSendError("the recipient's data key is erased or unknown") from None
    except TamperedError:
        raise PermanentSendError("the sealed address does not open") from None
    return Resolved(value)


@dataclass
class _Round:
    """One batch's transaction: its messages' spans, what it writes with one statement each at
    its end (outcome events and dead letters through the outbox, the access log's entries) and
    what became of each message (sent, queued, requeued, retry, failed; none: not tried, the
    recipient's earlier message in the batch was not sent)."""

    conn: DbConnection
    now: datetime
    spans: dict[UUID, Span]
    outbox: list[OutboxRow] = field(default_factory=list)
    access: list[AccessEntry] = field(default_factory=list)
    outcomes: dict[UUID, str] = field(default_factory=dict)
    opener: Opener | None = None
    """The data keys of the round's sealed addresses (fetched once the round knows what it
    sends)."""


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
