"""`make bench`: match requests/s of the matching service with 1,000, 10,000 and 100,000
volunteers in one municipality: does the cost grow less than linearly with the registry?

One request is what the service decides for each match request: the SQL pre-filter (the hard
constraints on the `volunteers_fair_order` index, fewest matches given first, stopping after
`CANDIDATE_LIMIT` eligible rows), the explained score in Python of those candidates only, and the
conditional UPDATE that takes the chosen volunteer's place, in one transaction. The spine's writes
(the match row, the outbox) are measured by bench/pipeline_stage.py.

Volunteers are written with COPY into a schema of its own (`bench_matching`, dropped afterwards);
their personal-data columns hold one placeholder sealed value (sealing is not what is measured).
Results go to bench/results/matching.{json,md}, with the pre-filter's plan at the largest size.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from signaalpunt_contracts import Need
from signaalpunt_matching import repository as repo
from signaalpunt_matching.domain import Request, best
from signaalpunt_matching.main import MIGRATIONS
from signaalpunt_matching.postcodes import areas
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
SIZES = tuple(int(s) for s in os.environ.get("BENCH_VOLUNTEERS", "1000,10000,100000").split(","))
REQUESTS = int(os.environ.get("BENCH_MATCH_REQUESTS", "200"))
CANDIDATE_LIMIT = 200
SCHEMA = "bench_matching"
MUNICIPALITY = "GM0715"
SKILLS = ("visits", "walks", "groceries", "digital_help", "language_buddy")
LANGUAGES = ("nl", "en", "ar", "tr", "pl", "de")
SLOTS = tuple(
    f"{d}_{p}" for d in ("mon", "tue", "wed", "thu", "fri") for p in ("morning", "evening")
)
PLACEHOLDER = "pd1.YmVuY2g="


def volunteers(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    places = [a for a in areas().values() if a.municipality == MUNICIPALITY]
    rows = []
    for _ in range(count):
        area = rng.choice(places)
        skills = rng.sample(SKILLS, rng.randint(1, 2))
        rows.append(
            (
                UUID(int=rng.getrandbits(128), version=4),
                MUNICIPALITY,
                "active" if rng.random() < 0.9 else "paused",
                skills,
                ["nl", *rng.sample(LANGUAGES[1:], rng.randint(0, 1))],
                rng.sample(["chess", "music", "walking", "cooking", "history"], 2),
                rng.sample(SLOTS, 3),
                area.postcode4,
                area.lat,
                area.lon,
                float(rng.choice([3, 5, 10, 15])),
                1000,
                date(2028, 1, 1) if rng.random() < 0.95 else date(2020, 1, 1),
                PLACEHOLDER,
            )
        )
    return rows


async def load(pool: asyncpg.Pool, rows: list[tuple[Any, ...]]) -> float:
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE volunteers CASCADE")
        await conn.copy_records_to_table(
            "volunteers",
            records=rows,
            columns=[
                "volunteer_id", "municipality", "status", "skills", "languages", "interests",
                "availability", "postcode_area", "lat", "lon", "max_travel_km", "max_matches",
                "vog_expires_on", "first_name",
            ],
            schema_name=SCHEMA,
        )  # fmt: skip
        await conn.execute("ANALYZE volunteers")
    return time.perf_counter() - started


def request(rng: random.Random) -> Request:
    return Request(
        needs=(rng.choice([Need.BUDDY, Need.PRACTICAL_HELP, Need.DIGITAL_SKILLS]),),
        languages=frozenset({"nl"}),
        near=(51.22 + rng.random() * 0.12, 3.75 + rng.random() * 0.16),
        interests=frozenset(rng.sample(["chess", "music", "walking"], 1)),
        availability=frozenset(rng.sample(SLOTS, 2)),
        start_on=date(2026, 12, 1),
    )


async def decide(pool: asyncpg.Pool, r: Request) -> int:
    async with pool.acquire() as conn, conn.transaction():
        found = await repo.candidates(conn, MUNICIPALITY, r, limit=CANDIDATE_LIMIT)
        for choice in best(found, r):
            if await repo.take_place(conn, choice.volunteer.volunteer_id):
                break
        return len(found)


async def run(pool: asyncpg.Pool, rng: random.Random) -> dict[str, Any]:
    await decide(pool, request(rng))  # warm the plan cache
    latencies: list[float] = []
    candidates = 0
    started = time.perf_counter()
    for _ in range(REQUESTS):
        t = time.perf_counter()
        candidates += await decide(pool, request(rng))
        latencies.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_s": round(REQUESTS / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "candidates_avg": round(candidates / REQUESTS),
    }


async def plan(pool: asyncpg.Pool, r: Request) -> str:
    async with pool.acquire() as conn:
        return await repo.explain_candidates(conn, MUNICIPALITY, r, limit=CANDIDATE_LIMIT)


async def main() -> int:
    rng = random.Random(19)  # reproducible test data
    admin = await asyncpg.connect(DATABASE)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await admin.close()
    await upgrade_async(MIGRATIONS, DATABASE, SCHEMA)
    pool = await create_pool(DATABASE, SCHEMA, size=4)
    runs = []
    try:
        for size in SIZES:
            loaded = await load(pool, volunteers(rng, size))
            runs.append(
                {"volunteers": size, "load_seconds": round(loaded, 1), **await run(pool, rng)}
            )
            print(runs[-1])
        query_plan = await plan(pool, request(rng))
    finally:
        await pool.close()
        admin = await asyncpg.connect(DATABASE)
        try:
            await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        finally:
            await admin.close()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "requests_per_size": REQUESTS,
        "runs": runs,
        "pre_filter_plan": query_plan,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Matching: match requests/s by registry size",
        "",
        f"{report['when']}, {report['machine']}; {REQUESTS} requests per size, one at a time, "
        f"in {MUNICIPALITY}; volunteers written with COPY.",
        "",
        "| volunteers | requests/s | p50 ms | p95 ms | candidates scored | load s |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['volunteers']:,} | {r['requests_per_s']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['candidates_avg']} | {r['load_seconds']} |"
            for r in runs
        ),
        "",
        f"The pre-filter's plan at {SIZES[-1]:,} volunteers:",
        "",
        "```",
        query_plan,
        "```",
        "",
    ]
    (RESULTS / "matching.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
