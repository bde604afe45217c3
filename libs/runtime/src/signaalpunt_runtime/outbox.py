"""The outbox: events are written in the state change's transaction, then relayed to Kafka.

A handler or HTTP request never publishes to Kafka directly (a crash between commit and publish
would lose the event, or publish an event whose state change rolled back). It writes the event to
the `outbox` table; the relay publishes it and marks it published.

The relay publishes with a Kafka producer of its own (the no-loss defaults of `broker_factory`)
rather than through the FastStream broker: per event that saves the broker's publish middlewares,
which cost more than the send itself. It still starts a PRODUCER span per event, a child of the
span that wrote the event (its traceparent is in the row's headers), and hands that span's context
on in the headers, so a consumer's span continues the writer's trace as before.

The relay keeps each key's order: exactly one relay per service is active at a time, chosen with a
Postgres advisory lock (the others wait on standby and take over when its connection drops); it
claims rows in id order with `FOR UPDATE SKIP LOCKED` and publishes them in that order. A crash
after publishing but before marking means those rows are published again: consumers deduplicate
by event id (the inbox), so the effect is still exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter as Tally
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge
from signaalpunt_contracts import Envelope, Topic

from .broker_factory import make_producer
from .database import DbConnection
from .failures import Backoff, Failure, classify, error_name
from .logs import get_logger
from .pausing import SUMMARY_INTERVAL

log = get_logger(__name__)

# W3C trace context only: the events carry no baggage, and the global propagator (trace context
# plus baggage) cost more than the send itself per event
TRACE_CONTEXT = TraceContextTextMapPropagator()

EVENT_ID_HEADER = "signaalpunt-event-id"
EVENT_TYPE_HEADER = "signaalpunt-event-type"


def event_headers(envelope: Envelope[Any], context: Context | None = None) -> dict[str, str]:
    """Headers every event carries: ids and type only (never personal data), plus trace context:
    that of the span that wrote the event, or `context` (a request whose event is written by a
    group commit's flusher, outside the request's own task)."""
    headers = {
        EVENT_ID_HEADER: str(envelope.event_id),
        EVENT_TYPE_HEADER: f"{envelope.type}.v{envelope.schema_version}",
        "content-type": "application/json",
    }
    TRACE_CONTEXT.inject(headers, context=context)
    return headers


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


OutboxRow = tuple[UUID, str, str, bytes, str]
"""(event id, topic, key, value, headers as JSON): one row of the outbox table."""


def outbox_row(
    topic: Topic, envelope: Envelope[Any], *, key: str, context: Context | None = None
) -> OutboxRow:
    """Check and serialise an event for `topic`, capturing the current trace context (or
    `context`)."""
    if not isinstance(envelope.data, topic.value):
        raise TypeError(
            f"{topic.name} carries {topic.value.__name__}, not {type(envelope.data).__name__}"
        )
    if not key:
        raise ValueError(f"an event for {topic.name} needs a key ({topic.key})")
    return (
        envelope.event_id,
        topic.name,
        key,
        envelope.model_dump_json().encode(),
        json.dumps(event_headers(envelope, context)),
    )


async def write_outbox_rows(conn: DbConnection, schema: str, rows: list[OutboxRow]) -> None:
    """Stage rows inside the caller's transaction: one statement inserts them and notifies."""
    if not rows:
        return
    # one statement for all rows (arrays, in id order) and the notification, which is delivered
    # only when the transaction commits and wakes the relay without waiting for its poll;
    # headers go in as text cast to jsonb: independent of the connection's jsonb codec
    await conn.execute(
        "WITH staged AS (INSERT INTO outbox (event_id, topic, key, value, headers)"
        " SELECT e, t, k, v, h::jsonb"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[])"
        " WITH ORDINALITY AS r(e, t, k, v, h, i) ORDER BY i"
        " ON CONFLICT (event_id) DO NOTHING)"
        " SELECT pg_notify($6, '')",
        *(list(column) for column in zip(*rows, strict=True)),
        notify_channel(schema),
    )


async def write_outbox(
    conn: DbConnection, schema: str, topic: Topic, envelope: Envelope[Any], *, key: str
) -> None:
    """Stage one event for `topic` inside the caller's transaction."""
    await write_outbox_rows(conn, schema, [outbox_row(topic, envelope, key=key)])


BACKLOG_INTERVAL = 2.0
"""Seconds between two measurements of the outbox backlog by the relay."""


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "signaalpunt_outbox_published",
            "Events published from the outbox",
            ["topic"],
            registry=registry,
        )
        self.failures = Counter(
            "signaalpunt_outbox_relay_failures",
            "Relay rounds that failed (Kafka or PostgreSQL unreachable); the rows are sent again",
            registry=registry,
        )
        self.active = Gauge(
            "signaalpunt_outbox_relay_active",
            "1 when this replica holds the outbox relay lock",
            registry=registry,
        )
        # measured by the replica that relays (a standby reports 0: take the max over replicas)
        self.backlog = Gauge(
            "signaalpunt_outbox_backlog",
            "Events written to the outbox and not yet published to Kafka",
            registry=registry,
        )
        self.oldest = Gauge(
            "signaalpunt_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest event not yet published to Kafka (0 when none waits)",
            registry=registry,
        )


class OutboxRelay:
    """Publishes outbox rows in order; one active replica per schema, the others on standby."""

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        bootstrap: str,
        client_id: str,
        tracer: trace.Tracer,
        metrics: OutboxMetrics,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        linger: float = 0.01,
        keep_published_days: float = 7,
        keep_inbox_days: float = 35,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._tracer = tracer
        self._producer: AIOKafkaProducer | None = None
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._linger = linger
        self._keep_published_days = keep_published_days
        self._keep_inbox_days = keep_inbox_days
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.active = False
        self._failing_since: float | None = None
        self._failures = 0
        self._next_summary = 0.0

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._schema}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Finish the batch in flight, then release the lock."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        # quiet while a dependency is down: one line when the relay starts failing (with the
        # error), a summary a minute, one line when it runs again; not one per attempt
        backoff = Backoff(self._poll_interval, 5.0)
        try:
            while not self._stopping.is_set():
                try:
                    await self._hold_lock_and_relay()
                except Exception as exc:
                    self._metrics.failures.inc()
                    self._note_failure(exc)
                    await self._sleep(backoff.next())
                    continue
                backoff.reset()
        finally:
            if self._producer is not None:
                with contextlib.suppress(Exception):
                    await self._producer.stop()
                self._producer = None

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self._bootstrap, client_id=self._client_id)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()  # a producer that could not start: closed, not left behind
                raise
            self._producer = producer
        return self._producer

    async def _hold_lock_and_relay(self) -> None:
        # a connection of its own: the session-level advisory lock lives as long as it does
        conn = await asyncpg.connect(self._dsn, server_settings={"search_path": self._schema})
        try:
            lock_key = f"outbox-relay:{self._schema}"
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
                # the replica that relays measures the backlog; a standby's own figure would be
                # stale (it keeps its last one through a failing round, when it matters most)
                self._metrics.backlog.set(0)
                self._metrics.oldest.set(0)
                self._note_working()
                await self._sleep(self._poll_interval * 3)  # standby: another replica relays
                return
            self._set_active(True)
            log.info("outbox relay active", schema=self._schema)
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
            loop = asyncio.get_running_loop()
            next_housekeeping = 0.0
            next_measure = 0.0
            while not self._stopping.is_set():
                if loop.time() >= next_housekeeping:
                    await self._housekeeping(conn)
                    next_housekeeping = loop.time() + 600
                if loop.time() >= next_measure:  # before publishing: also while Kafka is down
                    await self._measure_backlog(conn)
                    next_measure = loop.time() + BACKLOG_INTERVAL
                self._wake.clear()
                published = await self._publish_batch(conn)
                self._note_working()
                if published < self._batch_size:
                    await self._sleep(self._poll_interval)
                    # woken by a commit: let the rest of a burst arrive so it goes out as one
                    # batch rather than one transaction per event (cf. Kafka's linger.ms)
                    await asyncio.sleep(self._linger)
        finally:
            self._set_active(False)
            with contextlib.suppress(Exception):
                await conn.close()

    def _note_failure(self, exc: Exception) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since, self._next_summary = now, now + SUMMARY_INTERVAL
            report = log.warning if classify(exc) is Failure.DEPENDENCY else log.exception
            report("outbox relay failing; retrying", schema=self._schema, error=error_name(exc))
        elif now >= self._next_summary:
            self._next_summary = now + SUMMARY_INTERVAL
            log.warning(
                "outbox relay still failing",
                schema=self._schema,
                error=error_name(exc),
                failing_seconds=round(now - self._failing_since, 1),
                attempts=self._failures,
            )

    def _note_working(self) -> None:
        if self._failing_since is None:
            return
        log.warning(
            "outbox relay running again",
            schema=self._schema,
            failed_seconds=round(time.monotonic() - self._failing_since, 1),
            attempts=self._failures,
        )
        self._failing_since, self._failures = None, 0

    def _set_active(self, active: bool) -> None:
        self.active = active
        self._metrics.active.set(1 if active else 0)

    async def _measure_backlog(self, conn: asyncpg.Connection) -> None:
        # both through the partial index on unpublished rows: cheap however big the outbox
        row = await conn.fetchrow(
            "SELECT count(*) AS waiting,"
            " coalesce(extract(epoch FROM now() - (SELECT created_at FROM outbox"
            "   WHERE published_at IS NULL ORDER BY id LIMIT 1)), 0) AS oldest"
            " FROM outbox WHERE published_at IS NULL"
        )
        if row is not None:
            self._metrics.backlog.set(row["waiting"])
            self._metrics.oldest.set(float(row["oldest"]))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers::text AS headers FROM outbox"
                " WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            producer = await self._started_producer()
            pending, spans = [], []
            for row in rows:
                topic: str = row["topic"]
                headers: dict[str, str] = json.loads(row["headers"])
                # a PRODUCER span in the writer's trace; the consumer's span becomes its child
                span = self._tracer.start_span(
                    f"{topic} publish",
                    context=TRACE_CONTEXT.extract(headers),
                    kind=trace.SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": topic,
                        "messaging.operation.type": "publish",
                    },
                )
                TRACE_CONTEXT.inject(headers, context=trace.set_span_in_context(span))
                spans.append(span)
                pending.append(
                    await producer.send(
                        topic,
                        bytes(row["value"]),
                        key=row["key"].encode(),
                        headers=[(name, value.encode()) for name, value in headers.items()],
                    )
                )
            # every send acknowledged by all in-sync replicas before any row is marked
            try:
                await asyncio.gather(*pending)
            finally:
                for span in spans:
                    span.end()
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        for topic, count in Tally(row["topic"] for row in rows).items():
            self._metrics.published.labels(topic=topic).inc(count)
        return len(rows)

    async def _housekeeping(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
            self._keep_published_days * 86400,
        )
        await conn.execute(
            "DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)",
            self._keep_inbox_days * 86400,
        )
