"""signals.erased.v1: the counts stay, the link to the erased person's signal goes (issue 17)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest_asyncio
from metrics_harness import MetricsHarness, harness_on_private_topics
from metrics_scenario import TERNEUZEN, Step, match, received, triaged
from signaalpunt_contracts import Envelope, ErasureReason, ErasureScope, SignalErasedV1
from signaalpunt_metrics import repository
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.tombstones import expire_as_intake_does


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    async with harness_on_private_topics(
        kafka_topics.private,
        infra.kafka_bootstrap,
        database_url,
        start=True,
        settings={"tombstone_check_interval": 0.2},  # the tombstones' retention runs while we look
    ) as harness:
        yield harness


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


async def _naming(harness: MetricsHarness, signal_id: UUID) -> dict[str, int]:
    """Per read model, the rows that name this signal."""
    conn = await asyncpg.connect(harness.database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'metrics'"
            " AND column_name = 'signal_id' AND table_name <> 'erased_signals'"
        )
        found = {}
        for row in tables:
            n = await conn.fetchval(
                f"SELECT count(*) FROM metrics.{row['table_name']} WHERE signal_id = $1",
                signal_id,
            )
            if n:
                found[row["table_name"]] = int(n)
        return found
    finally:
        await conn.close()


async def test_an_event_after_the_erasure_counts_but_does_not_link_again(
    metrics: MetricsHarness,
) -> None:
    """Matching ends a match *because of* the erasure (and referral withdraws a referral): that
    event comes after signals.erased.v1 on another topic. Found by the planted-value scan: the
    ended match kept the erased signal's id in match_changes."""
    first = received(902, TERNEUZEN, "web_form")
    proposed = match(902, 1, 1, "proposed")
    await metrics.publish([first, proposed])
    signal_id = first.event.data.signal_id
    for _ in range(200):
        if len(await _naming(metrics, signal_id)) == 2:
            break
        await asyncio.sleep(0.1)
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
        if not await _naming(metrics, signal_id):
            break
        await asyncio.sleep(0.1)
    assert await _naming(metrics, signal_id) == {}
    ended = match(902, 1, 2, "ended", end_reason="withdrawn", changed_by="erasure")
    await metrics.publish([ended])
    conn = await asyncpg.connect(metrics.database_url)
    try:
        for _ in range(200):  # the ended match is counted ...
            if await conn.fetchval(
                "SELECT count(*) FROM metrics.match_changes WHERE match_request_id = $1"
                " AND status = 'ended'",
                ended.event.data.match_request_id,
            ):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the ended match was not counted")
    finally:
        await conn.close()
    assert await _naming(metrics, signal_id) == {}  # ... under an id that links to nobody


async def test_tombstones_of_erased_signals_go_after_730_days(metrics: MetricsHarness) -> None:
    await expire_as_intake_does(metrics.database_url, "metrics")


async def test_an_event_recorded_while_the_erasure_is_applied_does_not_link_again(
    metrics: MetricsHarness,
) -> None:
    """Found by the planted-value scan in CI (1 run in 2): the erasure and a match change about
    the same signal were applied at once by two consumers. The match change's transaction had
    not seen the erasure's tombstone, and the erasure's anonymising UPDATE had not seen the
    match change's row: both committed, and match_changes named the erased signal. Both orders
    of the two transactions, each held open while the other is applied."""

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            metrics.database_url, server_settings={"search_path": "metrics"}
        )

    for erasure_first in (False, True):
        start = received(990 + erasure_first, TERNEUZEN, "web_form")
        signal_id = start.event.data.signal_id
        change = match(990 + erasure_first, 1, 1, "proposed").event
        erased = Envelope.new(
            SignalErasedV1(
                erasure_id=uuid4(),
                signal_id=signal_id,
                scope=ErasureScope.PERSON,
                subject_id=start.event.data.subject_id,
                reason=ErasureReason.DATA_SUBJECT_REQUEST,
                erased_at=datetime.now(UTC),
            ),
            municipality=TERNEUZEN,
            producer="intake",
        )
        first, second = await connect(), await connect()
        try:
            held = first.transaction()
            await held.start()
            if erasure_first:
                await repository.record_erasure(first, erased)
                later = repository.record_match(second, change)
            else:
                await repository.record_match(first, change)
                later = repository.record_erasure(second, erased)

            async def apply(work: object = later, conn: asyncpg.Connection = second) -> None:
                async with conn.transaction():
                    await work  # type: ignore[misc]

            applying = asyncio.create_task(apply())
            await asyncio.sleep(0.5)  # the other transaction is under way meanwhile
            await held.commit()
            await asyncio.wait_for(applying, 30)
            linked = await first.fetchval(
                "SELECT count(*) FROM match_changes WHERE signal_id = $1", signal_id
            )
            counted = await first.fetchval(
                "SELECT count(*) FROM match_changes WHERE match_request_id = $1",
                change.data.match_request_id,
            )
        finally:
            await first.close()
            await second.close()
        assert counted == 1, f"erasure first: {erasure_first}"
        assert linked == 0, f"erasure first: {erasure_first}: the erased signal is named"
