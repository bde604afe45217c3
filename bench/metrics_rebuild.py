"""The metrics rebuild alone: signals/s and events/s of `signaalpunt_metrics.rebuild` over a
mixed stream of many signals' events (issue 22: 50,000 signals in < 60 s).

The stream is services/metrics/tests/metrics_mix.py's (received, triaged, case steps,
notifications queued then sent, acute alerts, missed deadlines, referrals, matches, gaps,
refusals; redeliveries and repeats; erasures), about 10.6 events per signal, on private topics
`<prefix>.<topic>`. The rebuild runs in this process into a schema of its own, timed from its
start to its swap. Then one refresh of the figures Prometheus reads (`ReadModelCollector`, every
read model aggregated) is timed over the rebuilt models, against one plain count of the signals
table in the same run: what the service's background refresh costs at that many signals.

    python bench/metrics_rebuild.py                       # fill, measure, drop (BENCH_SIGNALS)
    python bench/metrics_rebuild.py fill PREFIX           # fill topics once …
    python bench/metrics_rebuild.py measure PREFIX LABEL  # … measure as often as needed (before,
    python bench/metrics_rebuild.py drop PREFIX           #     after a change) … and drop them

Results go to bench/results/metrics_rebuild.{json,md}, one entry per label (a new run of a
label replaces it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from signaalpunt_contracts import Topic, TopicRegistry
from signaalpunt_metrics.collector import ReadModelCollector
from signaalpunt_metrics.config import MetricsSettings, load_goals, load_inhabitants
from signaalpunt_metrics.handlers import MetricsTopics
from signaalpunt_metrics.rebuild import rebuild
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics
from signaalpunt_runtime.topics_settings import TopicSettings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
KAFKA = os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
SIGNALS = int(os.environ.get("BENCH_SIGNALS", "50000"))
SCHEMA = "bench_metrics_rebuild"


def _mix_module() -> Any:
    path = REPO / "services" / "metrics" / "tests" / "metrics_mix.py"
    spec = importlib.util.spec_from_file_location("metrics_mix", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["metrics_mix"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def prefixed(prefix: str) -> MetricsTopics:
    base = MetricsTopics()
    changes: dict[str, Topic] = {
        f.name: dataclasses.replace(
            getattr(base, f.name), name=f"{prefix}.{getattr(base, f.name).name}"
        )
        for f in dataclasses.fields(base)
    }
    return dataclasses.replace(base, **changes)


async def fill(prefix: str, signals: int) -> int:
    topics = prefixed(prefix)
    specs = TopicRegistry(tuple(t for t, _ in topics.consumed())).broker_topics()
    single_node = TopicSettings(replication_factor=1, min_insync_replicas=1)
    await ensure_topics(KAFKA, specs, settings=single_node)
    print(f"generating {signals:,} signals' events …", flush=True)
    mix = _mix_module().mixed_stream(signals, seed=22)
    items = [item for phase in mix.phases() for item in phase]
    print(f"publishing {len(items):,} events to {prefix}.* …", flush=True)
    producer = make_producer(KAFKA, client_id="bench-metrics-rebuild")
    await producer.start()
    try:
        for start in range(0, len(items), 5000):
            futures = [
                await producer.send(
                    getattr(topics, item.topic).name,
                    item.event.model_dump_json().encode(),
                    key=item.key.encode(),
                )
                for item in items[start : start + 5000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(items)


async def measure(prefix: str, label: str) -> dict[str, Any]:
    settings = MetricsSettings(
        database_url=DATABASE,  # type: ignore[arg-type]
        kafka_bootstrap=KAFKA,
        service_name=f"metrics-bench-{uuid.uuid4().hex[:8]}",
        database_schema=SCHEMA,
    )
    started = time.perf_counter()
    report = await rebuild(settings, prefixed(prefix))
    seconds = time.perf_counter() - started
    refresh = await time_refresh(settings)
    conn = await asyncpg.connect(DATABASE)
    try:
        signals = int(await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.signals_received"))  # noqa: S608
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()
    applied = sum(report.events.values())
    read = applied + sum(report.duplicates.values()) + sum(report.invalid.values())
    return {
        "label": label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "seconds": round(seconds, 1),
        "signals": signals,
        "events_read": read,
        "events_applied": applied,
        "duplicates": sum(report.duplicates.values()),
        "signals_per_second": round(signals / seconds, 1),
        "events_per_second": round(read / seconds, 1),
        "projected_seconds_for_50000_signals": round(50_000 / (signals / seconds), 1),
        **refresh,
    }


async def time_refresh(settings: MetricsSettings, rounds: int = 5) -> dict[str, Any]:
    """The median of `rounds` refreshes of every figure over the rebuilt read models, and of a
    plain `count(*)` of the signals in the same connection pool (the baseline)."""
    pool = await create_pool(DATABASE, SCHEMA, size=2)
    collector = ReadModelCollector(
        pool=lambda: pool,
        offsets=None,
        municipalities=load_inhabitants(settings.inhabitants_file),
        goals=load_goals(settings.goals_file),
        refresh_interval=settings.refresh_interval,
    )

    async def timed(work: Any) -> float:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await work()
            times.append(time.perf_counter() - started)
        return sorted(times)[rounds // 2]

    async def count() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT count(*) FROM signals_received")

    try:
        refresh, baseline = await timed(collector.refresh), await timed(count)
    finally:
        await pool.close()
    return {
        "refresh_ms": round(refresh * 1000, 1),
        "count_ms": round(baseline * 1000, 1),
        "refresh_interval_s": settings.refresh_interval,
    }


async def drop(prefix: str) -> None:
    topics = prefixed(prefix)
    specs = TopicRegistry(tuple(t for t, _ in topics.consumed())).broker_topics()
    await delete_topics(KAFKA, [s.name for s in specs])


def record(entry: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "metrics_rebuild.json"
    entries: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    entries[entry["label"]] = entry
    path.write_text(json.dumps(entries, indent=2) + "\n")
    lines = [
        "# Metrics rebuild benchmark",
        "",
        "`python bench/metrics_rebuild.py`: the rebuild alone over a mixed stream "
        "(services/metrics/tests/metrics_mix.py, about 10.6 events per signal). Goal (issue 22): "
        "50,000 signals in < 60 s.",
        "",
        "| run | finished | signals | events read | seconds | signals/s | events/s "
        "| 50,000 signals | load at the end (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {e['label']} | {e['when']} | {e['signals']:,} | {e['events_read']:,} "
            f"| {e['seconds']} | {e['signals_per_second']:,.0f} | {e['events_per_second']:,.0f} "
            f"| {e['projected_seconds_for_50000_signals']} s | {e['load_average_1m']} |"
            for e in entries.values()
        ],
        "",
        "One refresh of every figure over the rebuilt read models (median of five), against "
        "one `count(*)` of the signals in the same run; the share of one core it takes at the "
        "service's refresh interval:",
        "",
        "| run | signals | refresh | count(*) | refresh ÷ count | share of a core |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {e['label']} | {e['signals']:,} | {e['refresh_ms']} ms | {e['count_ms']} ms "
            f"| {e['refresh_ms'] / max(e['count_ms'], 0.1):.0f}× "
            f"| {e['refresh_ms'] / 10 / e['refresh_interval_s']:.1f} % (every "
            f"{e['refresh_interval_s']:g} s) |"
            for e in entries.values()
            if "refresh_ms" in e
        ],
        "",
        f"Machine: {entry['machine']}.",
        "",
    ]
    (RESULTS / "metrics_rebuild.md").write_text("\n".join(lines))
    print("\n".join(lines))


async def main(args: list[str]) -> int:
    configure_logging("bench", "WARNING")
    if args[:1] == ["fill"]:
        print(await fill(args[1], SIGNALS), "events published")
    elif args[:1] == ["measure"]:
        record(await measure(args[1], args[2]))
    elif args[:1] == ["drop"]:
        await drop(args[1])
    else:
        prefix = f"bench-rebuild-{uuid.uuid4().hex[:8]}"
        try:
            await fill(prefix, SIGNALS)
            record(await measure(prefix, "run"))
        finally:
            await drop(prefix)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
