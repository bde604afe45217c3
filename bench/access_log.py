"""The access log's cost (docs/privacy.md): writing entries through the append-only, hash-chained
table (one statement of 1, 50 and 200 entries, as a case view and a review queue write them),
concurrent writers of one municipality taking turns on its chain, and checking the chain.

    python bench/access_log.py      (database: SIGNAALPUNT_DATABASE_URL; a schema of its own)

Writes bench/results/access_log.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from uuid import uuid4

import asyncpg
from signaalpunt_privacy.access_log import (
    AccessEntry,
    DataCategory,
    Operation,
    Purpose,
    access_log_sql,
    record,
    verify_chain,
)

SCHEMA = "bench_access_log"
RESULTS = Path(__file__).resolve().parent / "results" / "access_log.md"
ROUNDS = 40


def entries(n: int) -> list[AccessEntry]:
    return [
        AccessEntry.by_system(
            "system:bench",
            activity="triage.review_queue",
            operation=Operation.READ,
            municipality="GM0715",
            signal_id=uuid4(),
            subject_id=uuid4(),
            categories=(DataCategory.CASE,),
            purpose=Purpose.SIGNAL_HANDLING,
        )
        for _ in range(n)
    ]


async def main() -> None:
    dsn = os.environ.get(
        "SIGNAALPUNT_DATABASE_URL",
        "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt",
    )
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    await admin.execute(f"SET search_path TO {SCHEMA}; " + access_log_sql())
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=4, server_settings={"search_path": SCHEMA}
    )
    assert pool is not None
    lines = ["# Access log: write and check costs", "", "| what | median | p90 |", "|---|---|---|"]
    try:
        for n in (1, 50, 200):
            times = []
            for _ in range(ROUNDS):
                batch = entries(n)
                async with pool.acquire() as conn:
                    start = time.perf_counter()
                    await record(conn, batch)
                    times.append(time.perf_counter() - start)
            times.sort()
            lines.append(
                f"| {n} entries in one statement (autocommit) | "
                f"{statistics.median(times) * 1000:.1f} ms | "
                f"{times[int(len(times) * 0.9)] * 1000:.1f} ms |"
            )

        async def writer() -> None:
            for _ in range(50):
                async with pool.acquire() as conn:
                    await record(conn, entries(1))

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(4)))
        rate = 200 / (time.perf_counter() - start)
        async with pool.acquire() as conn:
            start = time.perf_counter()
            chain = await verify_chain(conn, "GM0715")
            took = time.perf_counter() - start
        assert chain.intact
        lines += [
            "",
            f"- 4 concurrent writers of one municipality, single entries: {rate:.0f} entries/s",
            f"- checking the chain of {chain.entries} entries: {took * 1000:.0f} ms",
            "",
        ]
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        await admin.close()
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
