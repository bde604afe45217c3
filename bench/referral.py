"""`make bench`: proposals/s of the referral service as the social map grows to 5,000 services
in one municipality.

A proposal is what the service computes for each recorded help question: the SQL pre-filter
(`repository.candidates`: every constraint judged and the score computed in SQL on one GIN
index of areas and needs, cut to the best few, with the per-constraint counts and the needs the
map can meet) and the ranking in Python of those few. Writes (the proposals, events) are the
spine's and are measured by bench/pipeline_stage.py.

The same run measures the baseline this replaced (all candidates that meet need, age, target
group and language handed to Python, up to 500, plus one aggregate over every service of the
municipality), at each map size, so the ratios are not skewed by the machine's load of the day.
The map lives in a schema of its own (`bench_referral`) that is dropped afterwards; the plan of
the pre-filter is recorded. Results go to bench/results/referral.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from signaalpunt_contracts import HelpQuestion, Mobility, Need, ReferralChannel, RiskGroup
from signaalpunt_referral import repository as repo
from signaalpunt_referral.handlers import CUT_MARGIN
from signaalpunt_referral.hsds import MapOrganisation, MapService
from signaalpunt_referral.main import MIGRATIONS
from signaalpunt_referral.ranking import (
    MAX_KM_WITH_TRANSPORT,
    Delivery,
    Offer,
    Person,
    ServiceStatus,
    rank,
)
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "500,1000,2000,5000").split(","))
SERVICES = SIZES[-1]
QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "150"))
CONCURRENCY = 8  # at the largest map: the service's pool shared by concurrent questions
SCHEMA = "bench_referral"
MUNICIPALITY = "GM0715"
LANGUAGES = ("nl", "en", "ar", "tr", "pl", "de")


def uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def social_map(rng: random.Random, count: int, first: int) -> list[MapOrganisation]:
    organisations = []
    needs = list(Need)
    for o in range(first // 10, (first + count) // 10):
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


async def propose(pool: asyncpg.Pool, who: Person) -> int:
    """What the service does: the cut in SQL, the few ranked again in Python."""
    q = who.question
    async with pool.acquire() as conn:
        found = await repo.candidates(
            conn,
            municipality=who.municipality,
            needs=[n.value for n in q.needs],
            age=q.age,
            risk_groups=[g.value for g in who.risk_groups],
            languages=list(q.languages),
            mobility=q.mobility.value,
            near=(q.near.lat, q.near.lon) if q.near else None,
            exclude=[],
            limit=5 + CUT_MARGIN,
            max_km_with_transport=MAX_KM_WITH_TRANSPORT,
        )
    rank(who, found.offers, prefiltered=found.ruled_out, limit=5, coverage=found.coverage)
    return len(found.offers)


_BASELINE_FAILED = """
    CASE
        WHEN status <> 'active' THEN 'status'
        WHEN NOT needs && $2::text[] THEN 'need'
        WHEN $3::int IS NOT NULL AND ((min_age IS NOT NULL AND $3 < min_age)
                                      OR (max_age IS NOT NULL AND $3 > max_age)) THEN 'age'
        WHEN target_groups <> '{}' AND NOT target_groups && $4::text[] THEN 'target_group'
        WHEN languages <> '{}' AND NOT languages && $5::text[] THEN 'language'
    END
"""


async def baseline(pool: asyncpg.Pool, who: Person) -> int:
    """The pre-filter this replaced (kept here only to measure against): every candidate that
    meets need, age, target group and language to Python (at most 500), and a count per
    constraint over every service of the municipality."""
    q = who.question
    params = (
        who.municipality,
        [n.value for n in q.needs],
        q.age,
        [g.value for g in who.risk_groups],
        list(q.languages),
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""
            SELECT * FROM services
            WHERE status = 'active' AND areas @> ARRAY[$1::text] AND needs && $2::text[]
              AND ({_BASELINE_FAILED}) IS NULL
            ORDER BY cardinality(ARRAY(SELECT unnest(needs) INTERSECT SELECT unnest($2::text[])))
                     DESC, service_id
            LIMIT 500
            """,  # noqa: S608 - constant fragments
            *params,
        )
        counts = await conn.fetch(
            f"SELECT {_BASELINE_FAILED} AS c, count(*) AS n FROM services "  # noqa: S608
            "WHERE areas @> ARRAY[$1::text] GROUP BY 1",
            *params,
        )
    offers = [repo._offer(r) for r in rows]
    rank(who, offers, prefiltered={r["c"]: r["n"] for r in counts if r["c"]}, limit=5)
    return len(offers)


Propose = Callable[[asyncpg.Pool, Person], Awaitable[int]]


async def run(
    pool: asyncpg.Pool, people: list[Person], concurrency: int, how: Propose
) -> dict[str, Any]:
    queue = list(people)
    latencies: list[float] = []
    candidates: list[int] = []

    async def worker() -> None:
        while queue:
            who = queue.pop()
            started = time.perf_counter()
            seen = await how(pool, who)
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
    """Which access path the pre-filter takes for one help question."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "EXPLAIN " + repo.candidates_query(1, 0),
            MUNICIPALITY,
            ["grief_support"],
            70,
            [],
            ["nl"],
            "needs_transport",
            51.3,
            3.8,
            [],
            MAX_KM_WITH_TRANSPORT,
            10,
        )
    # the access paths only: how the services table is read (the rest is the CTEs' plumbing)
    return "\n".join(r[0] for r in rows if "services" in r[0] or "Index Cond" in r[0])


async def main() -> int:
    rng = random.Random(18)  # reproducible test data
    admin = await asyncpg.connect(DATABASE)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await admin.close()
    await upgrade_async(MIGRATIONS, DATABASE, SCHEMA)
    pool = await create_pool(DATABASE, SCHEMA, size=10)
    curve: list[dict[str, Any]] = []
    try:
        people = [person(rng) for _ in range(QUESTIONS)]
        loaded = 0
        for size in SIZES:
            async with pool.acquire() as conn, conn.transaction():
                for organisation in social_map(rng, size - loaded, loaded):
                    await repo.upsert_organisation(conn, organisation)
                    await repo.upsert_services(conn, organisation.services)
                await conn.execute("ANALYZE services")
            loaded = size
            await propose(pool, people[0])  # warm the pool and the plan cache
            await baseline(pool, people[0])
            cut = await run(pool, people, 1, propose)
            before = await run(pool, people, 1, baseline)
            curve.append({"services": size, "sql_cut": cut, "baseline": before})
            print(size, cut["proposals_per_s"], before["proposals_per_s"], flush=True)
        concurrent = {
            "sql_cut": await run(pool, people, CONCURRENCY, propose),
            "baseline": await run(pool, people, CONCURRENCY, baseline),
        }
        query_plan = await plan(pool)
    finally:
        await pool.close()
        admin = await asyncpg.connect(DATABASE)
        try:
            await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        finally:
            await admin.close()
    first = curve[0]
    for point in curve:
        point["speedup"] = round(
            point["sql_cut"]["proposals_per_s"] / point["baseline"]["proposals_per_s"], 2
        )
        # time per proposal relative to the smallest map, against the map's growth
        point["sql_cut_cost_growth"] = round(
            first["sql_cut"]["proposals_per_s"] / point["sql_cut"]["proposals_per_s"], 2
        )
        point["baseline_cost_growth"] = round(
            first["baseline"]["proposals_per_s"] / point["baseline"]["proposals_per_s"], 2
        )
        point["map_growth"] = round(point["services"] / first["services"], 1)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_average": os.getloadavg()[0],
        "questions": QUESTIONS,
        "curve": curve,
        "concurrent": concurrent,
        "pre_filter_plan": query_plan,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "referral.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Referral proposals/s as the social map grows",
        "",
        f"{report['when']}, {report['machine']}, load average {report['load_average']:.1f}; "
        f"{QUESTIONS} help questions per point, one at a time; all services in {MUNICIPALITY}. "
        "`sql cut`: the service's pre-filter (every constraint and the score in SQL, the best "
        f"{5 + CUT_MARGIN} handed on); `baseline`: the pre-filter it replaced, measured in the "
        "same "
        "run. Cost growth: time per proposal against the smallest map.",
        "",
        "| services | sql cut /s | p50 ms | p95 ms | baseline /s | p50 ms | speed-up "
        "| map growth | sql cut cost growth | baseline cost growth |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {p['services']} | {p['sql_cut']['proposals_per_s']} | {p['sql_cut']['p50_ms']} "
            f"| {p['sql_cut']['p95_ms']} | {p['baseline']['proposals_per_s']} "
            f"| {p['baseline']['p50_ms']} | {p['speedup']}x | {p['map_growth']}x "
            f"| {p['sql_cut_cost_growth']}x | {p['baseline_cost_growth']}x |"
            for p in curve
        ),
        "",
        f"With {CONCURRENCY} concurrent questions at {SERVICES} services: sql cut "
        f"{concurrent['sql_cut']['proposals_per_s']}/s (p95 {concurrent['sql_cut']['p95_ms']} ms),"
        f" baseline {concurrent['baseline']['proposals_per_s']}/s "
        f"(p95 {concurrent['baseline']['p95_ms']} ms).",
        "",
        f"The pre-filter's plan at {SERVICES} services:",
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
