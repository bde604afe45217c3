"""A consumer stage that waits: its partitions paused, a capped back-off, probes, and a resume.

While a dependency is down (or a systemic failure lasts) the stage holds its partitions without
consuming: the consumer stays in its group (aiokafka keeps polling and heartbeating, so no
rebalance), the offset stays at the first event not yet handled, and nothing is dead-lettered.
A background task waits (capped exponential back-off), probes the database and the broker, and
resumes the partitions when both answer; the event is then delivered again and handled once (the
inbox absorbs any repeat). A systemic pause is probed by the event itself: it is tried again after
each back-off and parks nothing while the same failure lasts.

Quiet by design: one log line when the stage pauses, one when it resumes, and while it waits one
summary per `SUMMARY_INTERVAL`; the state is the `signaalpunt_consumer_paused{reason}` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from .failures import Backoff, PauseReason, error_name
from .logs import get_logger

log = get_logger(__name__)

SUMMARY_INTERVAL = 60.0
"""Seconds between 'still paused' lines while a stage waits."""


class PauseMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.paused = Gauge(
            "signaalpunt_consumer_paused",
            "1 while a consumer stage holds its partitions (reason: dependency = a database or "
            "broker it needs is unavailable; systemic = many events failed the same way)",
            ["topic", "group", "reason"],
            registry=registry,
        )
        self.pauses = Counter(
            "signaalpunt_consumer_pauses",
            "Times a consumer stage paused, by reason",
            ["topic", "group", "reason"],
            registry=registry,
        )
        self.probes = Counter(
            "signaalpunt_consumer_probes",
            "Probes of a paused stage's dependencies, by result",
            ["topic", "group", "result"],
            registry=registry,
        )


class Pausing:
    """The pause state of one stage (one consumer of one topic in one group)."""

    def __init__(
        self,
        *,
        topic: str,
        group: str,
        metrics: PauseMetrics,
        backoff: Backoff,
        dependencies_answer: Callable[[], Awaitable[bool]],
    ) -> None:
        self._topic = topic
        self._group = group
        self._metrics = metrics
        self._backoff = backoff
        self._dependencies_answer = dependencies_answer
        self.reason: PauseReason | None = None
        self.last_error: str | None = None
        self.since: float | None = None
        self._attempts = 0
        self._next_summary = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        for reason in PauseReason:
            metrics.paused.labels(topic, group, reason.value).set(0)

    def describe(self) -> dict[str, object] | None:
        """For /readyz: why and since when the stage waits (None when it runs)."""
        if self.reason is None or self.since is None:
            return None
        return {
            "reason": self.reason.value,
            "error": self.last_error,
            "seconds": round(time.monotonic() - self.since, 1),
            "retries": self._attempts,
        }

    def pause(
        self,
        consumer: AIOKafkaConsumer,
        rewind: dict[TopicPartition, int],
        reason: PauseReason,
        error: BaseException,
    ) -> None:
        """Hold every partition of `consumer`; the partitions in `rewind` are delivered again
        from the given offsets after the resume."""
        held = consumer.assignment()
        for tp, offset in rewind.items():
            if tp in held:  # a rebalance may have taken it meanwhile
                consumer.seek(tp, offset)
        consumer.pause(*held)
        self._consumer = consumer
        self.last_error = error_name(error)
        self._attempts += 1
        now = time.monotonic()
        if self.reason != reason:
            if self.reason is not None:
                self._metrics.paused.labels(self._topic, self._group, self.reason.value).set(0)
            first = self.reason is None
            self.reason = reason
            self.since = self.since if not first else now
            self._next_summary = now + SUMMARY_INTERVAL
            self._metrics.paused.labels(self._topic, self._group, reason.value).set(1)
            self._metrics.pauses.labels(self._topic, self._group, reason.value).inc()
            log.warning(
                "consumer paused",
                topic=self._topic,
                group=self._group,
                reason=reason.value,
                error=self.last_error,
                partitions=len(held),
            )
        else:
            self._summary(now)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._probe_then_resume(), name=f"probe-{self._group}-{self._topic}"
            )

    def _summary(self, now: float) -> None:
        if now < self._next_summary or self.reason is None or self.since is None:
            return
        self._next_summary = now + SUMMARY_INTERVAL
        log.warning(
            "consumer still paused",
            topic=self._topic,
            group=self._group,
            reason=self.reason.value,
            error=self.last_error,
            paused_seconds=round(now - self.since, 1),
            retries=self._attempts,
        )

    def running(self, *, proves_systemic_over: bool = True) -> None:
        """An event went through: the stage runs again (logged once, when it had paused)."""
        if self.reason is None:
            return
        if self.reason is PauseReason.SYSTEMIC and not proves_systemic_over:
            return
        paused_for = time.monotonic() - (self.since or time.monotonic())
        log.warning(
            "consumer resumed",
            topic=self._topic,
            group=self._group,
            reason=self.reason.value,
            paused_seconds=round(paused_for, 1),
            retries=self._attempts,
        )
        self._metrics.paused.labels(self._topic, self._group, self.reason.value).set(0)
        self.reason = None
        self.since = None
        self.last_error = None
        self._attempts = 0
        self._backoff.reset()

    async def _probe_then_resume(self) -> None:
        while True:
            await asyncio.sleep(self._backoff.next())
            if self.reason is PauseReason.SYSTEMIC:
                break  # the held event itself is the probe
            if await self._dependencies_answer():
                self._metrics.probes.labels(self._topic, self._group, "answered").inc()
                break
            self._metrics.probes.labels(self._topic, self._group, "failed").inc()
            self._summary(time.monotonic())
        consumer = self._consumer
        if consumer is not None:
            with contextlib.suppress(Exception):  # a consumer that stopped meanwhile
                consumer.resume(*consumer.assignment())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
