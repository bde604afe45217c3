"""Where a data key must never end up: PostgreSQL's statistics, and the server log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_privacy import KeyEncryptionKeys, PostgresSubjectKeyStore
from signaalpunt_privacy.keys import MIGRATIONS, SCHEMA
from signaalpunt_runtime.migrations import upgrade_async

KEKS = KeyEncryptionKeys.from_spec(KeyEncryptionKeys.generate_spec("kek-stats"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await upgrade_async(MIGRATIONS, database_url, SCHEMA)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


async def test_analyze_keeps_no_wrapped_key_in_pg_statistic(pool: asyncpg.Pool) -> None:
    """ANALYZE (or autovacuum) samples columns into pg_statistic, whose TOAST outlives the
    row: a shredded key's wrapped form must never be sampled there."""
    store = PostgresSubjectKeyStore(pool, KEKS)
    new = [store.new_data_key(uuid4(), "GM0715")[1] for _ in range(200)]
    await store.store_new_keys(new)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE subject_keys.data_keys")
        sampled = await conn.fetchval(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'subject_keys'"
            " AND tablename = 'data_keys' AND attname = 'wrapped_key'"
        )
        # the sampled values as text: none of the wrapped keys may appear in them
        dump = await conn.fetchval(
            "SELECT coalesce(string_agg(s::text, ' '), '') FROM pg_stats s"
            " WHERE schemaname = 'subject_keys' AND tablename = 'data_keys'"
        )
    assert sampled == 0
    assert not any(k.wrapped_key.hex() in dump for k in new)


async def test_postgres_logs_no_values_of_a_failed_statement(pool: asyncpg.Pool) -> None:
    """A failed insert must not put the values it carried in the server log (CONTEXT: JSON
    data …, DETAIL: Failing row contains …, Key (…)=(…))."""
    planted = f"Planted{uuid4().hex}"
    async with pool.acquire() as conn:
        data_directory = await conn.fetchval("SHOW data_directory")
        await conn.execute(
            "CREATE TEMP TABLE leak_probe (k text PRIMARY KEY, doc jsonb, n int CHECK (n > 0))"
        )
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute(
                "INSERT INTO leak_probe (doc) VALUES ($1::text::jsonb)",
                '{"name": "' + planted + '-json", broken',
            )
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute("INSERT INTO leak_probe (k, n) VALUES ($1, -1)", planted + "-check")
        await conn.execute("INSERT INTO leak_probe (k, n) VALUES ($1, 1)", planted + "-dup")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO leak_probe (k, n) VALUES ($1, 1)", planted + "-dup")
        await conn.execute("SELECT pg_sleep(0.2)")  # the log line is written by now
    log = (Path(data_directory) / "server.log").read_text(errors="replace")
    assert "leak_probe" in log or "ERROR" in log  # we are reading the right log
    assert planted not in log
