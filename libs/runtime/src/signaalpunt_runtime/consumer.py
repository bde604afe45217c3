"""A consumer stage: decode → inbox + handler + outbox in one transaction → commit the offset.

For every Kafka message:
1. the value is validated as `Envelope[<the topic's model>]` (or by the stage's decoder);
2. in one database transaction: `(consumer group, event id)` is inserted into the inbox (a second
   delivery finds it there and does nothing), the handler runs, and the events it publishes are
   written to the outbox;
3. a failure is classified (`failures.py`): the message's own fault (undecodable, invalid,
   `PermanentError`) goes to the dead-letter topic at once, and the stage's dead-letter hook
   writes the sender's rejection through the outbox in a transaction of its own; a dependency
   that is down (database, broker) pauses the stage (`pausing.py`), which resumes by itself and
   handles the event then, never dead-lettering it; an unknown error is retried a few times and
   then dead-lettered, unless `systemic_failures` different events in a row failed the same way:
   then the stage pauses (systemic) instead of parking the rest;
4. only then is the message's offset marked for commit (`offsets.py` commits handled offsets in the
   background); a paused stage seeks back to the first event it did not finish, so it resumes
   exactly there, also after a restart.

A parked copy replayed with `signaalpunt-dlq replay` carries `signaalpunt-replay-for: <group>`:
every other group on the topic skips it, so a replay reaches only the group that parked it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram
from signaalpunt_contracts import Envelope, Topic
from signaalpunt_contracts.envelope import PayloadT

from .database import DbConnection
from .dead_letters import REPLAY_FOR, dead_letter_headers
from .failures import (
    Backoff,
    Failure,
    InvalidMessageError,
    PauseReason,
    PermanentError,
    classify,
    error_name,
)
from .logs import get_logger
from .offsets import CommitOnRevoke, OffsetCommitter
from .outbox import TRACE_CONTEXT, OutboxRow, outbox_row, write_outbox_rows
from .pausing import PauseMetrics, Pausing
from .settings import ServiceSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from faststream.kafka.subscriber.usecase import LogicSubscriber

log = get_logger(__name__)


class UnitOfWork:
    """What a handler (or an HTTP request) gets: the transaction's connection and the outbox."""

    def __init__(
        self,
        connection: DbConnection,
        *,
        schema: str,
        producer: str,
        caused_by: Envelope[Any] | None = None,
        outbox: list[OutboxRow] | None = None,
        event_spans: Callable[[Any], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.connection = connection
        self._schema = schema
        self._producer = producer
        self._caused_by = caused_by
        self.outbox: list[OutboxRow] = [] if outbox is None else outbox
        self._event_spans = event_spans

    def traced(self, event: Any) -> AbstractContextManager[Any]:
        """For a list handler: the span of one event of its list, in the event's own trace (as a
        one-event handler runs in it), so that what it writes for that event (an outbox event,
        a stored trace context) continues the event's trace. Elsewhere: nothing to open."""
        if self._event_spans is None:
            return nullcontext()
        return self._event_spans(event)

    def new_event(self, data: PayloadT, *, municipality: str | None = None) -> Envelope[PayloadT]:
        """An event produced by this service, in the chain of the event being handled."""
        if municipality is None:
            if self._caused_by is None:
                raise ValueError("a new event outside a handler needs its municipality")
            municipality = self._caused_by.municipality
        return Envelope.new(
            data, municipality=municipality, producer=self._producer, caused_by=self._caused_by
        )

    async def publish(
        self, topic: Topic, event: Envelope[Any], *, key: str, trace_context: Context | None = None
    ) -> None:
        """Stage `event` on `topic`; it is published only if this transaction commits.

        The rows are written to the outbox in one go just before the commit (`flush`). The event
        carries the current trace context, or `trace_context` when it is written on behalf of
        another task (a request in a group commit).
        """
        self.outbox.append(outbox_row(topic, event, key=key, context=trace_context))

    def for_event(self, event: Envelope[Any]) -> UnitOfWork:
        """The same transaction and outbox, for the work one event of a list causes (a list
        handler's unit of work has no event that caused it)."""
        return UnitOfWork(
            self.connection,
            schema=self._schema,
            producer=self._producer,
            caused_by=event,
            outbox=self.outbox,
        )

    async def flush(self) -> None:
        rows, self.outbox[:] = list(self.outbox), []
        await write_outbox_rows(self.connection, self._schema, rows)


Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
"""Called with the decoded event (an `Envelope`, or what a custom decoder returns) and the unit
of work of its transaction; a stage with `as_list` calls it with a list of such events."""


class Decoded(Protocol):
    @property
    def event_id(self) -> UUID: ...


Decoder = Callable[[bytes, ConsumerRecord[bytes, bytes]], Decoded]
"""Turns a Kafka message into the event a handler gets; its `event_id` is the inbox key.
Raises ValidationError or InvalidMessageError for a message that can never be handled."""

DeadLetterHook = Callable[
    [ConsumerRecord[bytes, bytes], BaseException, "UnitOfWork"], Awaitable[None]
]
"""Called for a message refused for its own fault, before it goes to the dead-letter topic, with a
unit of work of its own: what it publishes (e.g. the sender's rejection) goes through the outbox,
once per message (an inbox row marks it), and waits out a database outage like any event."""

__all__ = [
    "ConsumerStage",
    "DeadLetterHook",
    "Decoder",
    "Handler",
    "InvalidMessageError",
    "PermanentError",
    "StageMetrics",
    "UnitOfWork",
    "unit_of_work",
]


class StageMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "signaalpunt_events_handled",
            "Events handled by a consumer stage, by outcome",
            ["topic", "group", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "signaalpunt_event_handling_seconds",
            "Time from delivery to commit of one event (including retries)",
            ["topic", "group"],
            registry=registry,
        )
        self.pausing = PauseMetrics(registry)


async def _raw_body(message: KafkaMessage) -> bytes:
    """The decoder for every stage: the raw bytes, so a malformed message reaches the stage
    (and its dead-letter topic) instead of failing inside the framework."""
    return bytes(message.body)


async def _raw_bodies(message: KafkaMessage) -> list[bytes]:
    """The decoder for batch stages: each message's raw bytes."""
    return [bytes(body) for body in message.body]


DEAD_LETTER_MARKS = uuid.UUID("5f0c2f6e-6a55-4d1c-9a52-2b7f3c1d8e01")


def dead_letter_mark(group: str, record: ConsumerRecord[bytes, bytes]) -> UUID:
    """The inbox key of "this group refused this message": a replayed copy (another offset) is a
    new message and gets its own, while a redelivery of the same one does not tell its sender
    twice."""
    return uuid.uuid5(
        DEAD_LETTER_MARKS, f"{group}:{record.topic}:{record.partition}:{record.offset}"
    )


PARKED_MARKS = uuid.UUID("0b6f7d8e-3c2a-4f5e-9d1b-7a4c6e2f8b13")


def parked_mark(group: str, record: ConsumerRecord[bytes, bytes]) -> UUID:
    """The inbox key of "this group published this message's dead letter": a message delivered
    again (a rebalance before its offset commit landed, a kill) is not parked twice; a replayed
    copy (another offset) is a new message and can be parked again."""
    return uuid.uuid5(PARKED_MARKS, f"{group}:{record.topic}:{record.partition}:{record.offset}")


class Pause(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside the stage to stop at an event and wait (`pausing.py`)."""

    def __init__(self, reason: PauseReason, error: BaseException) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.error = error


class ConsumerStage:
    def __init__(
        self,
        *,
        topic: Topic,
        group: str,
        handler: Handler,
        batch_size: int | None = None,
        as_list: bool = False,
        decode: Decoder | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        urgent: bool = False,
        pool: Callable[[], asyncpg.Pool],
        broker: KafkaBroker,
        settings: ServiceSettings,
        metrics: StageMetrics,
        tracer: Tracer | None = None,
    ) -> None:
        self.topic = topic
        self._tracer = tracer or trace.get_tracer(__name__)
        self.group = group
        self.handler = handler
        if as_list and not batch_size:
            raise ValueError("a handler takes a list of events only in batch mode (batch_size)")
        self.batch_size = batch_size
        self.as_list = as_list
        self.urgent = urgent
        self._pool = pool
        self._broker = broker
        self._settings = settings
        self._metrics = metrics
        model: type[Envelope[Any]] = Envelope[topic.value]  # type: ignore[name-defined]
        self._decode: Decoder = decode or (lambda body, _record: model.model_validate_json(body))
        self._on_dead_letter = on_dead_letter
        # unknown failures in a row: their error class and the different events that had it
        self._streak_error: str | None = None
        self._streak_events: set[str] = set()
        self.pausing = Pausing(
            topic=topic.name,
            group=group,
            metrics=metrics.pausing,
            backoff=Backoff(settings.retry_initial_delay, settings.pause_max_delay),
            dependencies_answer=self.dependencies_answer,
        )
        self.subscriber: LogicSubscriber[Any] | None = None
        self.offsets = OffsetCommitter(
            group=group,
            interval=settings.commit_interval,
            max_pending=settings.commit_max_pending,
        )
        self.listener = CommitOnRevoke(self.offsets)

    @property
    def paused(self) -> PauseReason | None:
        return self.pausing.reason

    def register(self) -> None:
        from .broker_factory import subscriber_options  # noqa: PLC0415 - avoid an import cycle

        options: dict[str, Any] = {
            **subscriber_options(
                self.group,
                # one consumer per topic and group: a service reading several topics in one
                # group needs an id per consumer, or the broker fences all but one of them
                instance_id=(
                    f"{self.group}-{self.topic.name}-{self._settings.instance}"
                    if self._settings.static_membership
                    else None
                ),
                session_timeout_ms=self._settings.consumer_session_timeout_ms,
            ),
            "listener": self.listener,
            "title": f"{self.topic.name}:{self.group}",
            "description": (
                f"{self.topic.description} Payload: Envelope[{self.topic.value.__name__}]."
            ),
        }
        if self.batch_size:
            options |= {"batch": True, "max_records": self.batch_size, "batch_timeout_ms": 100}
            if not self.urgent:
                # the broker answers a fetch once this much has gathered (or the wait is over):
                # one event at a time, a steady stream cost a transaction, a commit and the
                # framework's round per event, five to ten times a drain's cost per signal
                # (issue 22); an idle stage fetches as often as before (Kafka's wait is 500 ms)
                options |= {
                    "fetch_min_bytes": self._settings.batch_fetch_min_bytes,
                    "fetch_max_wait_ms": self._settings.batch_fetch_max_wait_ms,
                }
        subscriber = self._broker.subscriber(self.topic.name, **options)
        if self.batch_size:
            subscriber(self.handle_batch, decoder=_raw_bodies)
        else:
            subscriber(self.handle, decoder=_raw_body)
        self.subscriber = subscriber

    async def dependencies_answer(self) -> bool:
        """The probe of a paused stage: a query on its database and a broker metadata request."""
        try:
            await asyncio.wait_for(self._pool().fetchval("SELECT 1"), 5)
        except Exception:
            return False
        return bool(await self._broker.ping(timeout=5))

    # -- one event at a time -------------------------------------------------------------------

    async def handle(self, body: bytes, message: KafkaMessage) -> None:
        record: ConsumerRecord[bytes, bytes] = message.raw_message  # type: ignore[assignment]
        consumer = cast("AIOKafkaConsumer", message.consumer)
        started = time.perf_counter()
        try:
            outcome = await self._process(body, record)
        except Pause as pause:
            self.pausing.pause(consumer, {_tp(record): record.offset}, pause.reason, pause.error)
            return
        except BaseException:
            # rewind to this message: it is delivered again, never skipped by a later commit
            await message.nack()
            raise
        self._done(outcome, time.perf_counter() - started)
        await self.offsets.handled(consumer, record)

    async def _process(self, body: bytes, record: ConsumerRecord[bytes, bytes]) -> str:
        if self._replay_for_another_group(record):
            return "replay_for_other_group"
        try:
            event = self._decode(body, record)
        except (ValueError, InvalidMessageError) as exc:  # ValidationError is a ValueError
            await self._park(record, exc, attempts=1, failure=Failure.OWN_FAULT)
            return "dead_letter"
        return await self._process_event(event, record)

    def _replay_for_another_group(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        for key, value in record.headers or ():
            if key == REPLAY_FOR:
                return value.decode(errors="replace") != self.group
        return False

    def _done(self, outcome: str, elapsed: float) -> None:
        self._metrics.handled.labels(self.topic.name, self.group, outcome).inc()
        self._metrics.duration.labels(self.topic.name, self.group).observe(elapsed)
        if outcome in ("handled", "duplicate"):
            self._streak_error, self._streak_events = None, set()
            self.pausing.running()
        elif outcome == "dead_letter":
            # a parked event shows the database and broker work, not that a bug is gone
            self.pausing.running(proves_systemic_over=False)

    async def _process_event(self, event: Decoded, record: ConsumerRecord[bytes, bytes]) -> str:
        """Tries with a short back-off (a deadlock, a dropped connection, a blip), then decides
        by the failure's class."""
        delay = self._settings.retry_initial_delay
        attempts = 0
        while True:
            attempts += 1
            try:
                return await self._handle_once(event, record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify(exc)
                if failure is not Failure.OWN_FAULT and attempts < self._settings.retry_attempts:
                    log.debug(
                        "event handling failed, retrying",
                        topic=self.topic.name,
                        group=self.group,
                        attempt=attempts,
                        error=error_name(exc),
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._settings.retry_max_delay)
                    continue
                await self._after_failure(event, record, exc, failure, attempts)
                return "dead_letter"

    async def _after_failure(
        self,
        event: Decoded,
        record: ConsumerRecord[bytes, bytes],
        error: Exception,
        failure: Failure,
        attempts: int,
    ) -> None:
        """Returns only when the event was parked; raises `Pause` to wait instead."""
        if failure is Failure.DEPENDENCY:
            raise Pause(PauseReason.DEPENDENCY, error)
        if failure is Failure.UNKNOWN:
            if not await self.dependencies_answer():
                # an error we do not recognise while the database or broker is down: theirs
                raise Pause(PauseReason.DEPENDENCY, error)
            if self.paused is PauseReason.SYSTEMIC:
                raise Pause(PauseReason.SYSTEMIC, error)
            name = error_name(error)
            if name != self._streak_error:
                self._streak_error, self._streak_events = name, set()
            self._streak_events.add(str(event.event_id))
            if len(self._streak_events) >= self._settings.systemic_failures:
                raise Pause(PauseReason.SYSTEMIC, error)
        await self._park(record, error, attempts=attempts, failure=failure)

    async def _handle_once(self, event: Decoded, record: ConsumerRecord[bytes, bytes]) -> str:
        async with self._pool().acquire() as conn, conn.transaction():
            if not await self._first_delivery(conn, [(event.event_id, record)]):
                log.info("duplicate event ignored", event_id=str(event.event_id), group=self.group)
                return "duplicate"
            if self.as_list:
                # one event: its span is the current one already (`traced` opens nothing)
                work = self._unit_of_work(conn, None, [])
                await self.handler([event], work)
            else:
                work = self._unit_of_work(conn, event, [])
                await self.handler(event, work)
            await work.flush()
            return "handled"

    # -- batches -------------------------------------------------------------------------------

    async def handle_batch(self, bodies: list[bytes], message: KafkaMessage) -> None:
        """Batch mode: up to `batch_size` events in one transaction (one commit, one fsync).

        Each event still has its own inbox row. Should the batch's transaction fail, its events
        are handled one by one in order, with the usual failure classes; when one of them makes
        the stage wait, every event before it counts as done (committed, never parked twice) and
        each partition is delivered again from its first unfinished event.
        """
        records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message  # type: ignore[assignment]
        consumer = cast("AIOKafkaConsumer", message.consumer)
        _link_producers(trace.get_current_span(), records)
        started = time.perf_counter()
        finished = 0
        try:
            outcomes = await self._process_batch(bodies, records)
            finished = len(records)
        except _BatchPause as stop:
            finished = stop.finished
            outcomes = stop.outcomes
            rewind: dict[TopicPartition, int] = {}
            for record in records[finished:]:
                rewind.setdefault(_tp(record), record.offset)
            self.pausing.pause(consumer, rewind, stop.pause.reason, stop.pause.error)
        except BaseException:
            await message.nack()  # rewinds every partition of the batch to its first record
            raise
        elapsed = time.perf_counter() - started
        for outcome in outcomes:
            self._done(outcome, elapsed)
        for record in records[:finished]:
            await self.offsets.handled(consumer, record)

    async def _process_batch(
        self, bodies: list[bytes], records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> list[str]:
        decoded = self._decode_batch(bodies, records)
        valid = [
            (item, record)
            for item, record in zip(decoded, records, strict=True)
            if item is not None and not isinstance(item, Exception)
        ]
        refused = [
            (index, record, item)
            for index, (item, record) in enumerate(zip(decoded, records, strict=True))
            if isinstance(item, Exception)
        ]
        together: dict[int, str] = {}
        told = False
        if valid or refused:
            try:
                together = await self._handle_together(valid, refused)
                told = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug(
                    "batch failed; handling its events one by one",
                    topic=self.topic.name,
                    group=self.group,
                    size=len(valid),
                    error=error_name(exc),
                )
        if told and refused:
            # the senders were told in the batch's transaction; the dead letters go out
            # together, so a flood of refused events costs one round trip per batch, not one
            # per event, and holds up nobody else's events for long (issue 16)
            try:
                await self._publish_dead_letters([(r, e) for _, r, e in refused])
            except Pause as pause:
                first = refused[0][0]
                before = [
                    "replay_for_other_group" if item is None else together[id(item)]
                    for item in decoded[:first]
                ]
                raise _BatchPause(first, before, pause) from pause
        # in record order: parks (after the batch's transaction, so a wait for the database
        # never parks an event twice) and, when the batch failed, each event on its own
        outcomes: list[str] = []
        for index, (item, record) in enumerate(zip(decoded, records, strict=True)):
            try:
                if item is None:
                    outcomes.append("replay_for_other_group")
                elif isinstance(item, Exception):
                    if not told:
                        await self._park(record, item, attempts=1, failure=Failure.OWN_FAULT)
                    outcomes.append("dead_letter")
                elif id(item) in together:
                    outcomes.append(together[id(item)])
                else:
                    with self._event_span(record, trace.get_current_span()):
                        outcomes.append(await self._process_event(item, record))
            except Pause as pause:
                raise _BatchPause(index, outcomes, pause) from pause
        return outcomes

    def _decode_batch(
        self, bodies: list[bytes], records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> list[Decoded | Exception | None]:
        """Each message decoded, or why it was refused; None: a replay for another group."""
        decoded: list[Decoded | Exception | None] = []
        for body, record in zip(bodies, records, strict=True):
            if self._replay_for_another_group(record):
                decoded.append(None)
                continue
            try:
                decoded.append(self._decode(body, record))
            except (ValueError, InvalidMessageError) as exc:
                decoded.append(exc)
        return decoded

    async def _handle_together(
        self,
        events: list[tuple[Decoded, ConsumerRecord[bytes, bytes]]],
        refused: list[tuple[int, ConsumerRecord[bytes, bytes], Exception]],
    ) -> dict[int, str]:
        """One transaction for the batch: its events, and the rejections of the events refused
        while decoding (once per message, by its dead-letter mark); the outcome per event (by
        `id()` of the event)."""
        outcomes: dict[int, str] = {}
        outbox: list[OutboxRow] = []
        batch = trace.get_current_span()
        # in key order (stable: a key's events keep their order, and a key is in one partition):
        # handlers lock a row per key (a signal's facts, its counts), and two stages whose
        # batches took the same keys in different orders deadlocked; PostgreSQL broke the tie
        # after a second and the loser's whole batch went the one-by-one way (issue 22)
        events = sorted(events, key=lambda item: item[1].key or b"")
        async with self._pool().acquire() as conn, conn.transaction():
            if events:
                new = await self._first_delivery(
                    conn, [(event.event_id, record) for event, record in events]
                )
            else:
                new = set()
            fresh = []
            for event, record in events:
                if event.event_id not in new:  # handled before, or twice in this batch
                    outcomes[id(event)] = "duplicate"
                    continue
                new.discard(event.event_id)
                if self.as_list:
                    fresh.append(event)
                else:
                    # the event's own trace goes on (what it writes continues it), linked to
                    # the batch it came in
                    with self._event_span(record, batch):
                        await self.handler(event, self._unit_of_work(conn, event, outbox))
                outcomes[id(event)] = "handled"
            if fresh:
                records = {id(event): record for event, record in events}
                await self.handler(
                    fresh,
                    self._unit_of_work(
                        conn, None, outbox, spans=lambda e: self._event_span(records[id(e)], batch)
                    ),
                )
            if refused and self._on_dead_letter is not None:
                marks = {
                    dead_letter_mark(self.group, record): (record, error)
                    for _, record, error in refused
                }
                first_time = await self._first_delivery(
                    conn, [(mark, record) for mark, (record, _) in marks.items()]
                )
                for mark, (record, error) in marks.items():
                    if mark in first_time:
                        await self._on_dead_letter(
                            record, error, self._unit_of_work(conn, None, outbox)
                        )
            await write_outbox_rows(conn, self._settings.schema_name, outbox)
        return outcomes

    def _event_span(self, record: ConsumerRecord[bytes, bytes], batch: trace.Span) -> Any:
        """A span for one event of a batch in the event's own trace (what the handler writes
        continues it), linked to the batch's span; an event sent without a trace context is
        handled as a child of the batch's span instead of as a root of its own."""
        producer = _producer_context(record)
        if not trace.get_current_span(producer).get_span_context().is_valid:
            return self._tracer.start_as_current_span(
                f"{self.topic.name} handle", kind=SpanKind.CONSUMER
            )
        return self._tracer.start_as_current_span(
            f"{self.topic.name} handle",
            context=producer,
            kind=SpanKind.CONSUMER,
            links=[Link(batch.get_span_context())],
        )

    # -- shared --------------------------------------------------------------------------------

    async def _first_delivery(
        self, conn: DbConnection, events: list[tuple[UUID, ConsumerRecord[bytes, bytes]]]
    ) -> set[UUID]:
        """Insert the inbox rows in one statement; returns the ids not seen before."""
        rows = await conn.fetch(
            'INSERT INTO inbox (consumer, event_id, topic, partition, "offset")'
            " SELECT $1, e, t, p, o"
            " FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS u(e, t, p, o)"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            self.group,
            [event_id for event_id, _ in events],
            [record.topic for _, record in events],
            [record.partition for _, record in events],
            [record.offset for _, record in events],
        )
        return {row["event_id"] for row in rows}

    def _unit_of_work(
        self,
        conn: DbConnection,
        event: Decoded | None,
        outbox: list[OutboxRow],
        *,
        spans: Callable[[Any], AbstractContextManager[Any]] | None = None,
    ) -> UnitOfWork:
        return UnitOfWork(
            conn,
            schema=self._settings.schema_name,
            producer=self._settings.service_name,
            caused_by=event if isinstance(event, Envelope) else None,
            outbox=outbox,
            event_spans=spans,
        )

    async def _park(
        self,
        record: ConsumerRecord[bytes, bytes],
        error: BaseException,
        *,
        attempts: int,
        failure: Failure,
    ) -> None:
        """Tell the sender (own fault, through the outbox), then publish the dead letter. Raises
        `Pause` when the database or the broker is not there for it: the message is delivered
        again later and its sender is told once."""
        if failure is Failure.OWN_FAULT and self._on_dead_letter is not None:
            await self._tell_sender(record, error)
        if not await self._not_parked_yet([record]):
            log.info(
                "event delivered again; its dead letter was published before",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                group=self.group,
            )
            return
        target = self.topic.dead_letter_topic(self.group)
        headers = dead_letter_headers(
            record,
            error,
            attempts=attempts,
            group=self.group,
            service=self._settings.service_name,
            sealed=_sealed(error),
        )
        try:
            await self._broker.publish(
                _dead_letter_value(record, error), topic=target, key=record.key, headers=headers
            )
        except Exception as exc:
            raise Pause(PauseReason.DEPENDENCY, exc) from exc
        await self._note_parked([record])
        # the sender's fault is the sender's business (a warning); ours is an error
        report = log.warning if failure is Failure.OWN_FAULT else log.error
        report(
            "event sent to dead-letter topic",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self.group,
            dead_letter_topic=target,
            failure=failure.value,
            error=headers["dlq-error-class"],
            attempts=attempts,
        )

    async def _publish_dead_letters(
        self, refused: list[tuple[ConsumerRecord[bytes, bytes], Exception]]
    ) -> None:
        """The dead letters of a batch's refused events, published together (their senders were
        told in the batch's transaction); raises `Pause` when the broker does not take them:
        they are delivered again and published again, their senders not told twice."""
        fresh = await self._not_parked_yet([record for record, _ in refused])
        refused = [(record, error) for record, error in refused if id(record) in fresh]
        if not refused:
            return
        target = self.topic.dead_letter_topic(self.group)
        service = self._settings.service_name
        sends = [
            self._broker.publish(
                _dead_letter_value(record, error),
                topic=target,
                key=record.key,
                headers=dead_letter_headers(
                    record,
                    error,
                    attempts=1,
                    group=self.group,
                    service=service,
                    sealed=_sealed(error),
                ),
            )
            for record, error in refused
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise Pause(PauseReason.DEPENDENCY, failed)
        await self._note_parked([record for record, _ in refused])
        # one line per batch: a partner's flood must not flood the logs too
        log.warning(
            "events sent to dead-letter topic",
            topic=self.topic.name,
            group=self.group,
            dead_letter_topic=target,
            failure=Failure.OWN_FAULT.value,
            count=len(refused),
            offsets=[f"{r.partition}:{r.offset}" for r, _ in refused],
            errors=sorted({error_name(e) for _, e in refused}),
        )

    async def _not_parked_yet(self, records: list[ConsumerRecord[bytes, bytes]]) -> set[int]:
        """The records (by `id()`) whose dead letter this group has not published before. Raises
        `Pause` while the database is down: the stage waits rather than risk a second copy."""
        marks = {parked_mark(self.group, record): id(record) for record in records}
        try:
            rows = await self._pool().fetch(
                "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                self.group,
                list(marks),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if classify(exc) is Failure.DEPENDENCY:
                raise Pause(PauseReason.DEPENDENCY, exc) from exc
            log.exception("parked-before check failed", topic=self.topic.name, group=self.group)
            return set(marks.values())  # a second copy rather than none
        before = {row["event_id"] for row in rows}
        return {ref for mark, ref in marks.items() if mark not in before}

    async def _note_parked(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Remember the published dead letters. Should the database fail right now, the letters
        are out all the same: the offsets are committed as usual, and only a redelivery before
        that commit lands would publish a second copy."""
        try:
            async with self._pool().acquire() as conn:
                await self._first_delivery(
                    conn, [(parked_mark(self.group, record), record) for record in records]
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "published dead letters not noted; a redelivery would park them again",
                topic=self.topic.name,
                group=self.group,
                error=error_name(exc),
            )

    async def _tell_sender(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException
    ) -> None:
        assert self._on_dead_letter is not None
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                mark = dead_letter_mark(self.group, record)
                if await self._first_delivery(conn, [(mark, record)]):
                    work = self._unit_of_work(conn, None, [])
                    await self._on_dead_letter(record, error, work)
                    await work.flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if classify(exc) is Failure.DEPENDENCY:
                raise Pause(PauseReason.DEPENDENCY, exc) from exc
            # a bug in the hook: the dead letter still holds everything needed to tell later
            log.exception("dead-letter hook failed", topic=record.topic, group=self.group)

    async def close(self) -> None:
        await self.pausing.close()


def _producer_context(record: ConsumerRecord[bytes, bytes]) -> Context:
    """The trace context the producer sent with the record (empty: none)."""
    carrier = {
        key: value.decode("latin-1")
        for key, value in record.headers or ()
        if key in ("traceparent", "tracestate")
    }
    return TRACE_CONTEXT.extract(carrier)


def _link_producers(span: trace.Span, records: tuple[ConsumerRecord[bytes, bytes], ...]) -> None:
    """A batch's span links each message's producer span: a batch has no single parent, and
    without links a trace would end where its event joined a batch. FastStream links only the
    messages it published itself (by a correlation_id header the outbox relay does not send)."""
    linked = {link.context.span_id for link in getattr(span, "links", ()) or ()}
    for record in records:
        producer = trace.get_current_span(_producer_context(record)).get_span_context()
        if producer.is_valid and producer.span_id not in linked:
            linked.add(producer.span_id)
            span.add_link(
                producer,
                {
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                },
            )


class _BatchPause(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, finished: int, outcomes: list[str], pause: Pause) -> None:
        super().__init__(pause.reason.value)
        self.finished = finished
        self.outcomes = outcomes
        self.pause = pause


def _sealed(error: BaseException) -> bool:
    """Whether the refusal keeps a sealed copy instead of the message (a plaintext the sender
    should not have sent, kept only encrypted): such a dead letter cannot be replayed."""
    return isinstance(error, InvalidMessageError) and error.dead_letter_value is not None


def _dead_letter_value(record: ConsumerRecord[bytes, bytes], error: BaseException) -> bytes:
    """What the dead-letter topic keeps: the message, or its sealed copy."""
    if isinstance(error, InvalidMessageError) and error.dead_letter_value is not None:
        return error.dead_letter_value
    return record.value or b""


def _tp(record: ConsumerRecord[bytes, bytes]) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, settings: ServiceSettings) -> AsyncIterator[UnitOfWork]:
    """A transaction for HTTP requests and jobs: state changes and outbox events commit together."""
    async with pool.acquire() as conn, conn.transaction():
        work = UnitOfWork(conn, schema=settings.schema_name, producer=settings.service_name)
        yield work
        await work.flush()
