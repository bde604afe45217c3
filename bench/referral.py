"""`make bench`: proposals/s of the referral service with a social map of 5,000 services in one
municipality.

A proposal is what the service computes for each recorded help question: the SQL pre-filter
(active services of the municipality that meet a need, age, target group and language, on GIN
indexes), the per-constraint counts of what was ruled out (one aggregate in SQL), and the
ranking in Python of the candidates only. Writes (the proposals, events) are the spine's and
are measured by bench/pipeline_stage.py.

The map lives in a schema of its own (`bench_referral`) that is dropped afterwards; the plan
of the pre-filter is recorded to show which index it used. Results go to
bench/results/referral.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from signaalpunt_contracts import HelpQuestion, Mobility, Need, ReferralChannel, RiskGroup
from signaalpunt_referral import repository as repo
from signaalpunt_referral.hsds import MapOrganisation, MapService
from signaalpunt_referral.main import MIGRATIONS
from signaalpunt_referral.ranking import Delivery, Offer, Person, ServiceStatus, rank
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
SERVICES = int(os.environ.get("BENCH_SERVICES", "5000"))
QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "400"))
CONCURRENCY = (1, 8)
SCHEMA = "bench_referral"
MUNICIPALITY = "GM0715"
LANGUAGES = ("nl", "en", "ar", "tr", "pl", "de")


def uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def social_map(rng: random.Random) -> list[MapOrganisation]:
    organisations = []
    needs = list(Need)
    for o in range(SERVICES // 10):
        org_id = uuid(rng)
        services: list[MapService] = []
        for _ in range(10):
            low = rng.choice([None, None, 16, 18, 50, 65])
            offer = Offer(
                service_id=uuid(rng),
                organisation_id=org_id,
                name=f"Aanbod {o}-{len(services)}",
                areas=frozenset({MUNICIPALITY} | ({"GM0677"} if rng.random() < 0.3 else set())),
                status=ServiceStatus.ACTIVE if rng.random() < 0.9 else ServiceStatus.INACTIVE,
                needs=frozenset(rng.sample(needs, rng.randint(1, 3))),
                languages=frozenset(["nl", *rng.sample(LANGUAGES[1:], rng.randint(0, 2))]),
                open_places=rng.choice([None, 0, 1, 3, 10]),
                min_age=low,
                max_age=rng.choice([None, None, 27]) if low is None or low < 27 else None,
                target_groups=frozenset(rng.sample(list(RiskGroup), 1))
                if rng.random() < 0.2
                else frozenset(),
                delivery=frozenset(rng.sample(list(Delivery), rng.randint(1, 2))),
                lat=51.2 + rng.random() * 0.3,
                lon=3.7 + rng.random() * 0.4,
            )
            services.append(
                MapService(
                    offer=offer,
                    channel=ReferralChannel.API,
                    email=None,
                    capacity_total=offer.open_places,
                    document={"id": str(offer.service_id), "name": offer.name},
                )
            )
        organisations.append(
            MapOrganisation(
                organisation_id=org_id,
                name=f"Organisatie {o}",
                email=None,
                document={"id": str(org_id), "name": f"Organisatie {o}"},
                services=tuple(services),
            )
        )
    return organisations


def person(rng: random.Random) -> Person:
    question = HelpQuestion(
        needs=tuple(rng.sample(list(Need), rng.randint(1, 2))),
        languages=("nl",) if rng.random() < 0.8 else (rng.choice(LANGUAGES[1:]), "nl"),
        mobility=rng.choice(list(Mobility)),
        age=rng.randint(15, 95),
        consent_to_refer=True,
    )
    groups = frozenset(rng.sample(list(RiskGroup), rng.randint(0, 2)))
    return Person(municipality=MUNICIPALITY, question=question, risk_groups=groups)


async def propose(pool: asyncpg.Pool, who: Person) -> tuple[int, int]:
    q = who.question
    async with pool.acquire() as conn:
        candidates, prefiltered = await repo.candidates(
            conn,
            municipality=who.municipality,
            needs=[n.value for n in q.needs],
            age=q.age,
            risk_groups=[g.value for g in who.risk_groups],
            languages=list(q.languages),
            exclude=[],
            limit=500,
        )
    ranking = rank(who, candidates, prefiltered=prefiltered, limit=5)
    return len(candidates), len(ranking.proposals)


async def run(pool: asyncpg.Pool, people: list[Person], concurrency: int) -> dict[str, Any]:
    queue = list(people)
    latencies: list[float] = []
    candidates: list[int] = []

    async def worker() -> None:
        while queue:
            who = queue.pop()
            started = time.perf_counter()
            seen, _ = await propose(pool, who)
            latencies.append(time.perf_counter() - started)
            candidates.append(seen)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "proposals": len(people),
        "seconds": round(elapsed, 2),
        "proposals_per_s": round(len(people) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
        "candidates_avg": round(sum(candidates) / len(candidates), 1),
    }


async def plan(pool: asyncpg.Pool) -> str:
    """Which access path the pre-filter takes for one need."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "EXPLAIN SELECT service_id FROM services WHERE status = 'active' "
            "AND areas @> ARRAY[$1::text] AND needs && $2::text[]",
            MUNICIPALITY,
            ["grief_support"],
        )
    return "\n".join(r[0] for r in rows)


async def main() -> int:
    rng = random.Random(18)  # reproducible test data
    admin = await asyncpg.connect(DATABASE)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await admin.close()
    await upgrade_async(MIGRATIONS, DATABASE, SCHEMA)
    pool = await create_pool(DATABASE, SCHEMA, size=10)
    try:
        started = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            for organisation in social_map(rng):
                await repo.upsert_organisation(conn, organisation)
                await repo.upsert_services(conn, organisation.services)
            await conn.execute("ANALYZE services")
        loaded = time.perf_counter() - started
        people = [person(rng) for _ in range(QUESTIONS)]
        await propose(pool, people[0])  # warm the pool and the plan cache
        results = [await run(pool, people, c) for c in CONCURRENCY]
        query_plan = await plan(pool)
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
        "services": SERVICES,
        "map_load_seconds": round(loaded, 1),
        "runs": results,
        "pre_filter_plan": query_plan,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "referral.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Referral proposals/s",
        "",
        f"{report['when']}, {report['machine']}; a social map of {SERVICES} services in "
        f"{MUNICIPALITY} (loaded in {report['map_load_seconds']} s); {QUESTIONS} help questions.",
        "",
        "| concurrency | proposals/s | p50 ms | p95 ms | candidates after the SQL pre-filter |",
        "|---|---|---|---|---|",
        *(
            f"| {r['concurrency']} | {r['proposals_per_s']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['candidates_avg']} |"
            for r in results
        ),
        "",
        "The pre-filter's plan for one need:",
        "",
        "```",
        query_plan,
        "```",
        "",
    ]
    (RESULTS / "referral.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
