"""signals.erased.v1: the counts stay, the link to the erased person's signal goes (issue 17)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest_asyncio
from metrics_harness import MetricsHarness, private_group, private_topics
from metrics_scenario import TERNEUZEN, Step, received, triaged
from signaalpunt_contracts import Envelope, ErasureReason, ErasureScope, SignalErasedV1
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    group = private_group()
    topics, watched = await private_topics(kafka_topics.private, group)
    harness = MetricsHarness(
        bootstrap=infra.kafka_bootstrap,
        database_url=database_url,
        topics=topics,
        watched=watched,
        group=group,
    )
    await harness.producer.start()
    await harness.start()
    yield harness
    await harness.stop()
    await harness.producer.stop()


async def _count(harness: MetricsHarness, signal_id: UUID) -> tuple[int, int]:
    conn = await asyncpg.connect(harness.database_url)
    try:
        linked = await conn.fetchval(
            "SELECT (SELECT count(*) FROM metrics.signals_received WHERE signal_id = $1)"
            " + (SELECT count(*) FROM metrics.triage_decisions WHERE signal_id = $1)",
            signal_id,
        )
        total = await conn.fetchval("SELECT count(*) FROM metrics.signals_received")
    finally:
        await conn.close()
    return int(linked), int(total)


async def test_an_erased_signal_still_counts_but_links_to_nobody(metrics: MetricsHarness) -> None:
    first = received(901, TERNEUZEN, "web_form")
    second = triaged(
        901, TERNEUZEN, "web_form", decision=1, route="team_welzijn", priority="normal"
    )
    await metrics.publish([first, second])
    signal_id = first.event.data.signal_id
    for _ in range(200):
        if (await _count(metrics, signal_id))[0] == 2:
            break
        await asyncio.sleep(0.1)
    linked, total = await _count(metrics, signal_id)
    assert linked == 2
    erased = SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=ErasureScope.PERSON,
        subject_id=first.event.data.subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )
    envelope = Envelope.new(erased, municipality=TERNEUZEN, producer="intake")
    await metrics.publish([Step("erased", str(signal_id), envelope)])
    for _ in range(200):
        if (await _count(metrics, signal_id))[0] == 0:
            break
        await asyncio.sleep(0.1)
    assert await _count(metrics, signal_id) == (0, total)
    scraped = await metrics.scrape()
    assert "signaalpunt_signals_received_total" in scraped
    assert "signaalpunt_consumer_lag" in scraped
