"""Tenant isolation by the database (issue 17): through the notifications service's own role,
a connection scoped to some municipalities never reads, changes or writes another's facts or
messages, even with a query that forgets its municipality."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_notifications.main import MIGRATIONS
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.tenancy import (
    for_any_tenants,
    mine_and_theirs,
    others,
    scoped_connection,
    service_role_dsn,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await upgrade_async(MIGRATIONS, database_url, "notifications")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "notifications"})
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await service_role_dsn(database_url, "notifications"), "notifications")
    yield pool
    await pool.close()


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    await owner.execute("TRUNCATE signals, deliveries")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        signal_id = uuid4()
        planted[signal_id] = municipality
        await owner.execute(
            "INSERT INTO signals (signal_id, municipality, facts) VALUES ($1, $2, '{}')",
            signal_id,
            municipality,
        )
        await owner.execute(
            "INSERT INTO deliveries (delivery_id, dedupe_key, reason_event_id, reason_type,"
            " correlation_id, municipality, signal_id, rule, template, language, channel,"
            " recipient_kind, recipient, address, context, urgency, quiet_hours,"
            " next_attempt_at) VALUES ($1, $3, $1, 't', $1, $2, $1, 'r', 't', 'nl',"
            " 'email', 'team', 'mailbox', '{}', '{}', 'normal', false, now())",
            signal_id,
            municipality,
            str(signal_id),
        )
    return planted


@for_any_tenants
async def test_a_scoped_connection_never_touches_another_municipalitys_messages(
    owner: asyncpg.Connection,
    service_pool: asyncpg.Pool,
    municipalities: list[str],
    scope: set[str],
) -> None:
    planted = await _plant(owner, municipalities)
    mine, theirs = mine_and_theirs(planted, scope)
    async with scoped_connection(service_pool, scope) as conn:
        for table in ("signals", "deliveries"):
            rows = await conn.fetch(f"SELECT signal_id FROM {table}")
            assert {r["signal_id"] for r in rows} == mine, table
        changed = await conn.execute("UPDATE deliveries SET status = 'failed'")
        assert changed == f"UPDATE {len(mine)}"
        assert await conn.execute("DELETE FROM signals") == f"DELETE {len(mine)}"
        outside = others(scope)
        if outside:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO signals (signal_id, municipality, facts) VALUES ($1, $2, '{}')",
                    uuid4(),
                    outside[0],
                )
    untouched = await owner.fetch(
        "SELECT signal_id FROM deliveries WHERE status = 'pending'"
        " INTERSECT SELECT signal_id FROM signals"
    )
    assert {r["signal_id"] for r in untouched} == theirs
