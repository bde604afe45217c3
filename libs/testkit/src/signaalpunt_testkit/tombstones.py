"""The retention of a service's tombstones of erased signals, seen from its database."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg


async def expire_as_intake_does(database_url: str, schema: str, days: int = 730) -> None:
    """Plant one tombstone a day past `days` and one a day short of it in `<schema>.erased_signals`
    of a running service whose tombstone retention runs often; the first must go, the second
    stay (about 15 s at most)."""
    old, young = uuid4(), uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {schema}.erased_signals (signal_id, erased_at)"  # noqa: S608 - a test's constant
            " VALUES ($1, now() - make_interval(days => $3)),"
            " ($2, now() - make_interval(days => $4))",
            old,
            young,
            days + 1,
            days - 1,
        )
        left: set[object] = {old, young}
        for _ in range(150):
            rows = await conn.fetch(
                f"SELECT signal_id FROM {schema}.erased_signals WHERE signal_id = ANY($1)",  # noqa: S608
                [old, young],
            )
            left = {r["signal_id"] for r in rows}
            if old not in left:
                break
            await asyncio.sleep(0.1)
        assert left == {young}, (
            "the tombstone past its retention is still there" if old in left else left
        )
    finally:
        await conn.close()
