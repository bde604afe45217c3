"""Migrations: one schema per service, idempotent, safe when replicas start together."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
from signaalpunt_runtime.migrations import downgrade, upgrade_async

from .apps.counter_app import MIGRATIONS


async def _tables(dsn: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await conn.close()
    return {r["table_name"] for r in rows}


async def test_upgrade_creates_the_schema_with_spine_tables_and_its_version(
    database_url: str,
) -> None:
    await upgrade_async(MIGRATIONS, database_url, "svc_a")
    assert await _tables(database_url, "svc_a") == {
        "alembic_version",
        "inbox",
        "outbox",
        "effects",
        "totals",
    }
    await upgrade_async(MIGRATIONS, database_url, "svc_a")  # again: nothing to do, no error
    assert "inbox" not in await _tables(database_url, "public"), "nothing lands outside the schema"


async def test_replicas_migrating_at_once_do_not_collide(database_url: str) -> None:
    # four replicas start together, each its own process running the migration command
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "signaalpunt_runtime.migrations",
            "upgrade",
            str(MIGRATIONS),
            "--schema",
            "svc_b",
            env={**os.environ, "SIGNAALPUNT_DATABASE_URL": database_url},
        )
        for _ in range(4)
    ]
    assert [await p.wait() for p in procs] == [0, 0, 0, 0]
    conn = await asyncpg.connect(database_url)
    try:
        version = await conn.fetchval("SELECT version_num FROM svc_b.alembic_version")
        totals = await conn.fetchval("SELECT count(*) FROM svc_b.totals")
    finally:
        await conn.close()
    assert version == "0001"
    assert totals == 1, "the migration ran once"


async def test_downgrade_to_base_removes_the_tables(database_url: str) -> None:
    await upgrade_async(MIGRATIONS, database_url, "svc_c")
    await asyncio.to_thread(downgrade, MIGRATIONS, database_url, "svc_c", "base")
    assert await _tables(database_url, "svc_c") == {"alembic_version"}
