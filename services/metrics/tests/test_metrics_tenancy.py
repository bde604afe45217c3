"""Tenant isolation by the database (issue 17): every read model of the metrics service is held to
row-level security per municipality. A connection of the service's role scoped to some
municipalities sees, changes and writes only theirs, even with a query that forgets its
municipality; an unscoped one sees nothing; and the service running as its role (consumers,
the collector behind /metrics, erasure) still counts every municipality."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from metrics_harness import MetricsHarness, private_group, private_topics
from metrics_scenario import MIDDELBURG, TERNEUZEN, Step, received
from signaalpunt_contracts import Envelope, ErasureReason, ErasureScope, SignalErasedV1
from signaalpunt_metrics.main import MIGRATIONS
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.tenancy import (
    for_any_tenants,
    mine_and_theirs,
    others,
    scoped_connection,
    service_role_dsn,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await upgrade_async(MIGRATIONS, database_url, "metrics")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "metrics"})
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await service_role_dsn(database_url, "metrics"), "metrics")
    yield pool
    await pool.close()


async def test_every_read_model_is_held_to_its_municipality(owner: asyncpg.Connection) -> None:
    """Every table of the schema with a municipality column has a forced policy (a new read
    model without one fails here)."""
    rows = await owner.fetch(
        """
        SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity AS forced,
               EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS policy
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'metrics' AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname = 'municipality' AND NOT a.attisdropped)
        """
    )
    assert len(rows) >= 12
    assert [r["relname"] for r in rows if not (r["forced"] and r["policy"])] == []


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    await owner.execute("TRUNCATE signals_received, cases, acute_alerts")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        key = uuid4()
        planted[key] = municipality
        await owner.execute(
            "INSERT INTO signals_received (signal_id, municipality, channel, partner_type,"
            " received_at) VALUES ($1, $2, 'web_form', 'none', now())",
            key,
            municipality,
        )
        await owner.execute(
            "INSERT INTO cases (signal_id, municipality, state, state_at, received_at)"
            " VALUES ($1, $2, 'open', now(), now())",
            key,
            municipality,
        )
    return planted


@for_any_tenants
async def test_a_scoped_connection_never_touches_another_municipalitys_rows(
    owner: asyncpg.Connection,
    service_pool: asyncpg.Pool,
    municipalities: list[str],
    scope: set[str],
) -> None:
    planted = await _plant(owner, municipalities)
    mine, theirs = mine_and_theirs(planted, scope)
    async with scoped_connection(service_pool, scope) as conn:
        for table in ("signals_received", "cases"):
            rows = await conn.fetch(f"SELECT signal_id FROM {table}")
            assert {r["signal_id"] for r in rows} == mine, table
        changed = await conn.execute("UPDATE cases SET state = 'closed'")
        assert changed == f"UPDATE {len(mine)}"
        deleted = await conn.execute("DELETE FROM signals_received")
        assert deleted == f"DELETE {len(mine)}"
        outside = others(scope)
        if outside:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO acute_alerts (signal_id, municipality, raised_at)"
                    " VALUES ($1, $2, now())",
                    uuid4(),
                    outside[0],
                )
    untouched = await owner.fetch(
        "SELECT signal_id FROM cases WHERE state = 'open'"
        " INTERSECT SELECT signal_id FROM signals_received"
    )
    assert {r["signal_id"] for r in untouched} == theirs


async def test_an_unscoped_connection_of_the_role_sees_nothing(
    owner: asyncpg.Connection, database_url: str
) -> None:
    await _plant(owner, ["GM0715", "GM0716"])
    dsn = await service_role_dsn(database_url, "metrics")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "metrics"})
    try:
        assert await conn.fetchval("SELECT count(*) FROM signals_received") == 0
        assert await conn.fetchval("SELECT count(*) FROM cases") == 0
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics_as_role(
    owner: asyncpg.Connection, infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    await owner.execute("TRUNCATE signals_received, cases, acute_alerts")
    group = private_group()
    topics, watched = await private_topics(kafka_topics.private, group)
    harness = MetricsHarness(
        bootstrap=infra.kafka_bootstrap,
        database_url=await service_role_dsn(database_url, "metrics"),
        topics=topics,
        watched=watched,
        group=group,
        settings={"migrate_on_start": False},
    )
    await harness.producer.start()
    await harness.start()
    yield harness
    await harness.stop()
    await harness.producer.stop()


async def test_the_service_as_its_role_counts_every_municipality(
    metrics_as_role: MetricsHarness, owner: asyncpg.Connection
) -> None:
    metrics = metrics_as_role
    here, there = received(951, TERNEUZEN, "web_form"), received(952, MIDDELBURG, "phone")
    await metrics.publish([here, there])

    def counted(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
        return {
            dict(labels)["channel"]
            for (name, labels), value in samples.items()
            if name == "signaalpunt_signals_received_total" and value >= 1
        }

    # /metrics adds the municipalities up: Terneuzen's is the web form, Middelburg's the phone
    await metrics.wait_until(lambda s: {"web_form", "phone"} <= counted(s))
    signal_id = here.event.data.signal_id
    erased = SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=ErasureScope.PERSON,
        subject_id=here.event.data.subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )
    envelope = Envelope.new(erased, municipality=TERNEUZEN, producer="intake")
    await metrics.publish([Step("erased", str(signal_id), envelope)])
    for _ in range(200):
        linked = await owner.fetchval(
            "SELECT count(*) FROM signals_received WHERE signal_id = $1", signal_id
        )
        if linked == 0:
            break
        await asyncio.sleep(0.1)
    assert linked == 0
    assert await owner.fetchval("SELECT count(*) FROM signals_received") == 2
