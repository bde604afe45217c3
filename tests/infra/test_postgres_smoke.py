"""PostgreSQL is real: an asyncpg round trip, transactions that roll back, SKIP LOCKED."""

from __future__ import annotations

import asyncpg
import pytest


async def test_asyncpg_round_trip_and_rollback(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        version = await conn.fetchval("SHOW server_version_num")
        assert int(version) >= 140000
        await conn.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)")
        await conn.executemany("INSERT INTO notes (body) VALUES ($1)", [("a",), ("b",)])
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO notes (body) VALUES ('c')")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO notes (id, body) VALUES (1, 'clash')")
        await tx.rollback()
        rows = await conn.fetch("SELECT body FROM notes ORDER BY id")
        assert [r["body"] for r in rows] == ["a", "b"]
    finally:
        await conn.close()


async def test_skip_locked_hands_each_row_to_one_claimer(database_url: str) -> None:
    setup = await asyncpg.connect(database_url)
    await setup.execute("CREATE TABLE work (id int PRIMARY KEY)")
    await setup.executemany("INSERT INTO work VALUES ($1)", [(i,) for i in range(10)])
    await setup.close()
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        claim = "SELECT id FROM work ORDER BY id LIMIT 6 FOR UPDATE SKIP LOCKED"
        a = [r["id"] for r in await first.fetch(claim)]
        b = [r["id"] for r in await second.fetch(claim)]
        await tx1.rollback()
        await tx2.rollback()
    finally:
        await first.close()
        await second.close()
    assert a == [0, 1, 2, 3, 4, 5]
    assert b == [6, 7, 8, 9]
