"""The metrics service as the tests run it: in-process on the real Kafka and PostgreSQL, with
private topics, started and stopped at will (restarts), scraped over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from metrics_scenario import Sample, Step
from prometheus_client.parser import text_string_to_metric_families
from signaalpunt_contracts import Topic
from signaalpunt_metrics.config import MetricsSettings
from signaalpunt_metrics.handlers import MetricsTopics
from signaalpunt_metrics.main import build
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.serving import serving

DOMAIN_PREFIXES = (
    "signaalpunt_signal",
    "signaalpunt_triage",
    "signaalpunt_deadlines",
    "signaalpunt_acute",
    "signaalpunt_notifications",
    "signaalpunt_partner",
    "signaalpunt_municipality",
    "signaalpunt_goal",
)
"""Figures that come from the read models only (not Kafka offsets, not the clock)."""
CLOCK_DEPENDENT = (
    "signaalpunt_acute_alert_oldest_wait_seconds",
    "signaalpunt_goal_",
    "signaalpunt_signals_in_period",  # complete periods: they move on at midnight
    "signaalpunt_signals_period_change",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(text: str) -> dict[Sample, float]:
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def read_model_figures(samples: dict[Sample, float]) -> dict[Sample, float]:
    return {
        k: v
        for k, v in samples.items()
        if k[0].startswith(DOMAIN_PREFIXES) and not k[0].startswith(CLOCK_DEPENDENT)
    }


class MetricsHarness:
    def __init__(
        self,
        *,
        bootstrap: str,
        database_url: str,
        topics: MetricsTopics,
        watched: list[Topic],
        group: str,
        port: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.overrides = settings or {}
        self.group = group
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.topics = topics
        self.watched = watched
        self.port = port or free_port()  # the management port: /metrics, health
        self._serving: AsyncExitStack | None = None
        self.producer = make_producer(bootstrap, client_id="metrics-tests")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> MetricsSettings:
        return MetricsSettings(
            database_url=self.database_url,  # type: ignore[arg-type]
            kafka_bootstrap=self.bootstrap,
            refresh_interval=0.2,
            commit_interval=0.2,
            consume_batch_size=50,
            service_name=self.group,  # the consumer group: private to this test module
            database_schema="metrics",
            **self.overrides,
        )

    async def start(self) -> None:
        _, app = build(self.settings(), topics=self.topics, watched=self.watched)
        stack = AsyncExitStack()
        await stack.enter_async_context(serving(app, management_port=self.port))
        self._serving = stack

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.aclose()
        self._serving = None

    async def scrape(self) -> str:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.get("/metrics")
            response.raise_for_status()
            return response.text

    async def samples(self) -> dict[Sample, float]:
        return parse(await self.scrape())

    async def wait_for(
        self,
        expected: dict[Sample, float],
        *,
        timeout: float = 90,
    ) -> dict[Sample, float]:
        """Scrape until every expected sample has its value; returns the last scrape."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            samples = await self.samples()
            wrong = {k: (v, samples.get(k)) for k, v in expected.items() if samples.get(k) != v}
            if not wrong:
                return samples
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"metrics never reached (expected, got): {wrong}")
            await asyncio.sleep(0.3)

    async def wait_until(
        self, check: Callable[[dict[Sample, float]], bool], timeout: float = 90
    ) -> dict[Sample, float]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            samples = await self.samples()
            if check(samples):
                return samples
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("metrics never reached the expected state")
            await asyncio.sleep(0.3)

    async def publish(self, steps: list[Step]) -> None:
        for item in steps:
            topic: Topic = getattr(self.topics, item.topic)
            await self.producer.send_and_wait(
                topic.name, item.event.model_dump_json().encode(), key=item.key.encode()
            )

    async def publish_raw(self, topic: Topic, value: bytes, key: str) -> None:
        await self.producer.send_and_wait(topic.name, value, key=key.encode())


def private_group() -> str:
    """A consumer group of the test module's own: a group shared between modules would make one
    module's consumer (one that has not yet left, or one a failed test left behind) a member of
    another module's group, and the rebuild refuses while its group has members."""
    return f"metrics-{uuid.uuid4().hex[:8]}"


async def private_topics(
    create: Callable[..., Awaitable[Any]], group: str
) -> tuple[MetricsTopics, list[Topic]]:
    """Private copies of the metrics service's topics: consumed by `group` (and, on the
    received topic, also by "triage", which never runs here: its lag is everything)."""
    base = MetricsTopics()
    copies: dict[str, Topic] = {}
    for f in dataclasses.fields(base):
        topic: Topic = getattr(base, f.name)
        consumers = ("triage", group) if f.name == "received" else (group,)
        copies[f.name] = await create(topic, topic.name, consumers=consumers)
    topics = MetricsTopics(**copies)
    return topics, list(copies.values())


@asynccontextmanager
async def harness_on_private_topics(
    create: Callable[..., Awaitable[Any]],
    bootstrap: str,
    database_url: str,
    *,
    start: bool = False,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[MetricsHarness]:
    """A test module's harness: its own group and topics (`create` is the topic factory's
    `private`), its producer running, the service started when `start`; all stopped after."""
    group = private_group()
    topics, watched = await private_topics(create, group)
    harness = MetricsHarness(
        bootstrap=bootstrap,
        database_url=database_url,
        topics=topics,
        watched=watched,
        group=group,
        settings=settings,
    )
    await harness.producer.start()
    try:
        if start:
            await harness.start()
        yield harness
    finally:
        await harness.stop()
        await harness.producer.stop()
