"""The one place where Kafka clients are built, with no-loss defaults.

FastStream and aiokafka default to at-most-once: auto-commit before the handler runs, the leader's
acknowledgement only, no idempotence. Here:
- producers use `acks="all"` and `enable_idempotence=True` (no duplicates from producer retries,
  nothing acknowledged before every in-sync replica has it);
- subscribers never auto-commit: an offset is committed only after the message's database
  transaction committed (the consumer stage does it, `offsets.py`); a failure rewinds to the
  message so it is delivered again instead of skipped;
- topics are never auto-created (they come from the registry, `make topics`).

`tests/repo/test_delivery_defaults.py` fails when code elsewhere builds a broker, producer or
consumer of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from .failures import Backoff, Failure, classify, error_name
from .kafka_security import KafkaSecurity, shared_security
from .logs import get_logger
from .pausing import SUMMARY_INTERVAL
from .serving import wait_unless_stopping

PRODUCER_DEFAULTS: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
# The consumer stage acknowledges itself: it commits the offsets of handled messages (offsets.py)
# and rewinds on failure, so FastStream must neither commit first nor commit on its own.
SUBSCRIBER_ACK_POLICY = AckPolicy.MANUAL
# the longest wait between two attempts to reach a broker that is down at start
CONNECT_MAX_DELAY = 10.0

log = get_logger("signaalpunt.broker")


class _Broker(KafkaBroker):
    """FastStream's Kafka broker, whose consumers start together.

    A consumer's start waits for its group to assign it partitions. Started one by one (as
    FastStream does), every consumer that joins makes the members already in the group rejoin,
    at their next heartbeat: a service with ten consumers in its group took 15 s to start (one
    rebalance each). Started together, they join in one rebalance.

    A start while Kafka is down waits for it (as a start waits for PostgreSQL): FastStream's
    start fails at once ("Unable to bootstrap"), and the service stayed up, not ready and never
    consuming, until someone restarted it by hand.
    """

    async def start(self) -> None:
        await self._connect_when_kafka_answers()
        await asyncio.gather(*(subscriber.start() for subscriber in self.subscribers))
        for publisher in self.publishers:
            await publisher.start()
        self.running = True

    async def _connect_when_kafka_answers(self) -> None:
        """Connect; while the broker is unreachable, wait and try again. Anything else (a
        refused login, a wrong setting) still stops the start, and so does a stop (SIGTERM) asked
        for meanwhile. One line when it starts waiting, one a minute after, one when the broker
        answers."""
        backoff = Backoff(0.5, CONNECT_MAX_DELAY)
        waiting_since: float | None = None
        next_summary = 0.0
        while True:
            try:
                await self.connect()
            except Exception as exc:
                if classify(exc) is not Failure.DEPENDENCY:
                    raise
                # a half-made connection (a producer started, then the admin client failed)
                # would be reused as it is: close what was opened and start clean
                with contextlib.suppress(Exception):
                    await self.config.disconnect()
                now = time.monotonic()
                if waiting_since is None or now >= next_summary:
                    log.warning(
                        "waiting for the broker to start",
                        error=error_name(exc),
                        waited_seconds=round(now - (waiting_since or now), 1),
                    )
                    waiting_since = waiting_since or now
                    next_summary = now + SUMMARY_INTERVAL
                await wait_unless_stopping(backoff.next())
                continue
            if waiting_since is not None:
                log.warning(
                    "broker answered; starting",
                    waited_seconds=round(time.monotonic() - waiting_since, 1),
                )
            return


def make_broker(
    *,
    bootstrap: str,
    client_id: str,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    metrics_registry: CollectorRegistry | None = None,
    description: str | None = None,
    security: KafkaSecurity | None = None,
) -> KafkaBroker:
    middlewares: list[Any] = []
    if tracer_provider is not None:
        # W3C trace context in Kafka headers: a consumer span is a child of the producer's span
        middlewares.append(
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider, meter_provider=meter_provider)
        )
    if metrics_registry is not None:
        middlewares.append(KafkaPrometheusMiddleware(registry=metrics_registry, app_name=client_id))
    return _Broker(
        bootstrap,
        client_id=client_id,
        allow_auto_create_topics=False,
        ack_policy=SUBSCRIBER_ACK_POLICY,
        middlewares=middlewares,
        description=description,
        # a logger of our own (JSON through the root handler); FastStream's prints coloured text
        logger=logging.getLogger("signaalpunt.broker"),
        # its "Received" and "Processed" lines come per message: at INFO they were half of all
        # log lines (and their CPU) under load; the stage logs its state changes itself
        log_level=logging.DEBUG,
        security=(security or shared_security()).faststream(),
        **PRODUCER_DEFAULTS,
    )


def subscriber_options(
    group: str, *, instance_id: str | None = None, session_timeout_ms: int = 10_000
) -> dict[str, Any]:
    """Keyword arguments for `broker.subscriber(...)`: a consumer group that loses nothing."""
    return {
        "group_id": group,
        "group_instance_id": instance_id,
        "session_timeout_ms": session_timeout_ms,
        # a service runs one consumer per topic in its group, and every member that joins makes
        # the others rejoin; members learn of a rebalance at their next heartbeat, so a short
        # interval lets a group of six settle in seconds rather than half a minute
        "heartbeat_interval_ms": max(300, session_timeout_ms // 10),
        # a new group starts at the beginning of the topic: nothing published before it is skipped
        "auto_offset_reset": "earliest",
        "ack_policy": SUBSCRIBER_ACK_POLICY,
        # one message at a time per subscriber keeps each key's order and makes every commit
        # cover only messages whose transaction has committed
        "max_workers": None,
    }


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """Authentication for a plain aiokafka client; default: the shared settings (tools)."""
    return (security or shared_security()).client_options()


def make_producer(
    bootstrap: str, *, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaProducer:
    """A plain producer for tools (dead-letter replay) that live outside a FastStream app."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        **PRODUCER_DEFAULTS,
        **client_options(security),
    )


def make_reader(
    bootstrap: str, *, group: str | None = None, security: KafkaSecurity | None = None
) -> AIOKafkaConsumer:
    """A consumer for tools that read a topic and commit explicitly (never automatically)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="signaalpunt-tools",
        **client_options(security),
    )


def make_admin(
    bootstrap: str,
    *,
    client_id: str = "signaalpunt-tools",
    security: KafkaSecurity | None = None,
    **options: Any,
) -> AIOKafkaAdminClient:
    """An admin client (topics, groups, offsets) with the same authentication."""
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=client_id, **options, **client_options(security)
    )
