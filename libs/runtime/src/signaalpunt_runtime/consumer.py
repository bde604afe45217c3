"""A consumer stage: decode → inbox + handler + outbox in one transaction → commit the offset.

For every Kafka message:
1. the value is validated as `Envelope[<the topic's model>]`; a message that does not validate goes
   to the dead-letter topic at once (retrying cannot fix it);
2. in one database transaction: `(consumer group, event id)` is inserted into the inbox (a second
   delivery finds it there and does nothing), the handler runs, and the events it publishes are
   written to the outbox;
3. transient errors are retried with exponential backoff (tenacity), a bounded number of times;
   a `PermanentError`, a validation error, or an exhausted retry sends the message to the
   dead-letter topic;
4. only then is the message's offset marked for commit (`offsets.py` commits handled offsets in the
   background). Should even the dead-letter publish fail, the consumer rewinds to the message and
   tries again later: nothing is skipped.

After `max_consecutive_dead_letters` dead letters in a row the stage halts its consumer instead of
draining the topic (a bad deploy); `/health` then reports it, and the offset stays at the first
event it did not handle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.context import Context
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from signaalpunt_contracts import Envelope, Topic
from signaalpunt_contracts.envelope import PayloadT
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .database import DbConnection
from .dead_letters import dead_letter_headers
from .logs import get_logger
from .offsets import CommitOnRevoke, OffsetCommitter
from .outbox import OutboxRow, outbox_row, write_outbox_rows
from .settings import ServiceSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from faststream.kafka.subscriber.usecase import LogicSubscriber

log = get_logger(__name__)


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed: dead-lettered without retries.

    The message must name the reason without personal data (it becomes a Kafka header).
    """


class ConsumerHaltedError(RuntimeError):
    """The stage stopped its consumer after too many consecutive dead letters."""


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
    ) -> None:
        self.connection = connection
        self._schema = schema
        self._producer = producer
        self._caused_by = caused_by
        self.outbox: list[OutboxRow] = [] if outbox is None else outbox

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

    async def flush(self) -> None:
        rows, self.outbox[:] = list(self.outbox), []
        await write_outbox_rows(self.connection, self._schema, rows)


Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
"""Called with the decoded event (an `Envelope`, or what a custom decoder returns) and the unit
of work of its transaction; a stage with `as_list` calls it with a list of such events."""


class InvalidMessageError(ValueError):
    """A decoder's verdict: this message can never be handled (dead-lettered without retries)."""

    dead_letter_value: bytes | None = None
    """What the dead-letter topic keeps instead of the message's value, when that must not be
    kept as it came (e.g. a refused plaintext partner event, kept encrypted)."""


class Decoded(Protocol):
    @property
    def event_id(self) -> UUID: ...


Decoder = Callable[[bytes, ConsumerRecord[bytes, bytes]], Decoded]
"""Turns a Kafka message into the event a handler gets; its `event_id` is the inbox key.
Raises ValidationError or InvalidMessageError for a message that can never be handled."""

DeadLetterHook = Callable[[ConsumerRecord[bytes, bytes], BaseException], Awaitable[None]]
"""Called after a message went to the dead-letter topic, e.g. to tell its sender why."""


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


async def _raw_body(message: KafkaMessage) -> bytes:
    """The decoder for every stage: the raw bytes, so a malformed message reaches the stage
    (and its dead-letter topic) instead of failing inside the framework."""
    return bytes(message.body)


async def _raw_bodies(message: KafkaMessage) -> list[bytes]:
    """The decoder for batch stages: each message's raw bytes."""
    return [bytes(body) for body in message.body]


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
        pool: Callable[[], asyncpg.Pool],
        broker: KafkaBroker,
        settings: ServiceSettings,
        metrics: StageMetrics,
    ) -> None:
        self.topic = topic
        self.group = group
        self.handler = handler
        if as_list and not batch_size:
            raise ValueError("a handler takes a list of events only in batch mode (batch_size)")
        self.batch_size = batch_size
        self.as_list = as_list
        self._pool = pool
        self._broker = broker
        self._settings = settings
        self._metrics = metrics
        model: type[Envelope[Any]] = Envelope[topic.value]  # type: ignore[name-defined]
        self._decode: Decoder = decode or (lambda body, _record: model.model_validate_json(body))
        self._on_dead_letter = on_dead_letter
        self.consecutive_dead_letters = 0
        self.halted: str | None = None
        self.subscriber: LogicSubscriber[Any] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self.offsets = OffsetCommitter(
            group=group,
            interval=settings.commit_interval,
            max_pending=settings.commit_max_pending,
        )
        self.listener = CommitOnRevoke(self.offsets)

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
        subscriber = self._broker.subscriber(self.topic.name, **options)
        if self.batch_size:
            subscriber(self.handle_batch, decoder=_raw_bodies)
        else:
            subscriber(self.handle, decoder=_raw_body)
        self.subscriber = subscriber

    async def handle(self, body: bytes, message: KafkaMessage) -> None:
        record: ConsumerRecord[bytes, bytes] = message.raw_message  # type: ignore[assignment]
        try:
            await self._process(body, record)
        except BaseException:
            # rewind to this message: it is delivered again, never skipped by a later commit
            await message.nack()
            raise
        await self.offsets.handled(cast("AIOKafkaConsumer", message.consumer), record)

    async def handle_batch(self, bodies: list[bytes], message: KafkaMessage) -> None:
        """Batch mode: up to `batch_size` events in one transaction (one commit, one fsync).

        Each event still has its own inbox row. Should any event of the batch fail, the batch's
        transaction rolls back and its events are handled one by one, with the usual retries
        and dead letters, so one bad event never takes the others with it.
        """
        records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message  # type: ignore[assignment]
        try:
            await self._process_batch(bodies, records)
        except BaseException:
            await message.nack()  # rewinds every partition of the batch to its first record
            raise
        consumer = cast("AIOKafkaConsumer", message.consumer)
        for record in records:
            await self.offsets.handled(consumer, record)

    async def _process_batch(
        self, bodies: list[bytes], records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> None:
        if self.halted:
            raise ConsumerHaltedError(self.halted)
        started = time.perf_counter()
        valid: list[tuple[Decoded, ConsumerRecord[bytes, bytes]]] = []
        for body, record in zip(bodies, records, strict=True):
            try:
                valid.append((self._decode(body, record), record))
            except (ValidationError, InvalidMessageError) as exc:
                await self._dead_letter(record, exc, attempts=1)
        if not valid:
            return
        try:
            outcomes = await self._handle_together(valid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "batch failed; handling its events one by one",
                topic=self.topic.name,
                group=self.group,
                size=len(valid),
                error=type(exc).__name__,
            )
            for event, record in valid:
                await self._process_event(event, record, time.perf_counter())
            return
        self.consecutive_dead_letters = 0
        elapsed = time.perf_counter() - started
        for outcome in outcomes:
            self._metrics.handled.labels(self.topic.name, self.group, outcome).inc()
            self._metrics.duration.labels(self.topic.name, self.group).observe(elapsed)

    async def _handle_together(
        self, events: list[tuple[Decoded, ConsumerRecord[bytes, bytes]]]
    ) -> list[str]:
        outcomes = []
        outbox: list[OutboxRow] = []
        async with self._pool().acquire() as conn, conn.transaction():
            new = await self._first_delivery(conn, events)
            fresh = []
            for event, _ in events:
                if event.event_id not in new:  # handled before, or twice in this batch
                    outcomes.append("duplicate")
                    continue
                new.discard(event.event_id)
                if self.as_list:
                    fresh.append(event)
                else:
                    await self.handler(event, self._unit_of_work(conn, event, outbox))
                outcomes.append("handled")
            if fresh:
                await self.handler(fresh, self._unit_of_work(conn, None, outbox))
            await write_outbox_rows(conn, self._settings.schema_name, outbox)
        return outcomes

    async def _process(self, body: bytes, record: ConsumerRecord[bytes, bytes]) -> None:
        started = time.perf_counter()
        if self.halted:
            raise ConsumerHaltedError(self.halted)
        try:
            event = self._decode(body, record)
        except (ValidationError, InvalidMessageError) as exc:
            await self._dead_letter(record, exc, attempts=1)
            return
        await self._process_event(event, record, started)

    async def _process_event(
        self, event: Decoded, record: ConsumerRecord[bytes, bytes], started: float
    ) -> None:
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._settings.retry_attempts),
                wait=wait_exponential_jitter(
                    multiplier=self._settings.retry_initial_delay,
                    max=self._settings.retry_max_delay,
                    jitter=self._settings.retry_initial_delay,
                ),
                retry=retry_if_not_exception_type(
                    (ValidationError, PermanentError, ConsumerHaltedError)
                ),
                before_sleep=self._log_retry,
                reraise=True,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    outcome = await self._handle_once(event, record)
        except (ConsumerHaltedError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self._dead_letter(record, exc, attempts=attempts)
            return
        self.consecutive_dead_letters = 0
        self._metrics.handled.labels(self.topic.name, self.group, outcome).inc()
        self._metrics.duration.labels(self.topic.name, self.group).observe(
            time.perf_counter() - started
        )

    async def _handle_once(self, event: Decoded, record: ConsumerRecord[bytes, bytes]) -> str:
        async with self._pool().acquire() as conn, conn.transaction():
            if not await self._first_delivery(conn, [(event, record)]):
                log.info("duplicate event ignored", event_id=str(event.event_id), group=self.group)
                return "duplicate"
            if self.as_list:
                work = self._unit_of_work(conn, None, [])
                await self.handler([event], work)
            else:
                work = self._unit_of_work(conn, event, [])
                await self.handler(event, work)
            await work.flush()
            return "handled"

    async def _first_delivery(
        self, conn: DbConnection, events: list[tuple[Decoded, ConsumerRecord[bytes, bytes]]]
    ) -> set[UUID]:
        """Insert the inbox rows in one statement; returns the ids not seen before."""
        rows = await conn.fetch(
            'INSERT INTO inbox (consumer, event_id, topic, partition, "offset")'
            " SELECT $1, e, t, p, o"
            " FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS u(e, t, p, o)"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            self.group,
            [event.event_id for event, _ in events],
            [record.topic for _, record in events],
            [record.partition for _, record in events],
            [record.offset for _, record in events],
        )
        return {row["event_id"] for row in rows}

    def _unit_of_work(
        self, conn: DbConnection, event: Decoded | None, outbox: list[OutboxRow]
    ) -> UnitOfWork:
        return UnitOfWork(
            conn,
            schema=self._settings.schema_name,
            producer=self._settings.service_name,
            caused_by=event if isinstance(event, Envelope) else None,
            outbox=outbox,
        )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "event handling failed, retrying",
            topic=self.topic.name,
            group=self.group,
            attempt=state.attempt_number,
            error=type(error).__name__,
        )

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        limit = self._settings.max_consecutive_dead_letters
        if self.consecutive_dead_letters >= limit:
            await self._halt(record, error)
        target = self.topic.dead_letter_topic(self.group)
        headers = dead_letter_headers(
            record, error, attempts=attempts, group=self.group, service=self._settings.service_name
        )
        value = record.value or b""
        if isinstance(error, InvalidMessageError) and error.dead_letter_value is not None:
            value = error.dead_letter_value
        try:
            await self._broker.publish(value, topic=target, key=record.key, headers=headers)
        except Exception:
            log.exception(
                "dead-letter publish failed; the event will be delivered again",
                topic=self.topic.name,
                group=self.group,
            )
            await asyncio.sleep(self._settings.retry_max_delay)  # do not spin while Kafka is sick
            raise
        self.consecutive_dead_letters += 1
        self._metrics.handled.labels(self.topic.name, self.group, "dead_letter").inc()
        log.error(
            "event sent to dead-letter topic",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self.group,
            dead_letter_topic=target,
            error=headers["dlq-error-class"],
            attempts=attempts,
            consecutive=self.consecutive_dead_letters,
        )
        if self._on_dead_letter is not None:
            try:
                await self._on_dead_letter(record, error)
            except Exception:
                # the dead letter itself is safe; only the courtesy (e.g. telling a partner) failed
                log.exception("dead-letter hook failed", topic=record.topic, group=self.group)

    async def _halt(self, record: ConsumerRecord[bytes, bytes], error: BaseException) -> None:
        self.halted = (
            f"{self.group} on {self.topic.name} stopped after {self.consecutive_dead_letters} "
            f"consecutive dead letters (last: {type(error).__name__}); fix the cause, restart, "
            f"then replay {self.topic.dead_letter_topic(self.group)}"
        )
        log.critical(
            "consumer halted: too many consecutive dead letters",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self.group,
            limit=self._settings.max_consecutive_dead_letters,
        )
        if self.subscriber is not None and self._stop_task is None:
            # stopping from inside our own handler would cancel ourselves: let a task do it
            self._stop_task = asyncio.create_task(self.subscriber.stop())
        # handle() rewinds to this message (never committed): it is where a restart resumes
        raise ConsumerHaltedError(self.halted)


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, settings: ServiceSettings) -> AsyncIterator[UnitOfWork]:
    """A transaction for HTTP requests and jobs: state changes and outbox events commit together."""
    async with pool.acquire() as conn, conn.transaction():
        work = UnitOfWork(conn, schema=settings.schema_name, producer=settings.service_name)
        yield work
        await work.flush()
