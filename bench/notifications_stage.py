"""`make bench`: notifications' planning stage on a backlog, one event per transaction against
batches (`consume_batch_size`, issue 22), against a raw aiokafka loop in the same run.

A backlog of `signals.triaged.v1` events (each plans the team's e-mail about a new case) is put on
a fresh copy of the topic, and the notifications service (in this process, with its sender
sending to an SMTP server in a process of its own) works it off from a database of its own.
Per variant: events planned per second (first to last delivery row), CPU milliseconds per event
of this process (the service: planning and sending) and of PostgreSQL, and the ratio to the raw
consume→produce loop. Results go to bench/results/notifications_stage.{json,md}, with the load.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    NOTIFICATIONS,
    PARTNERS_LISTED,
    SIGNALS_TRIAGED,
    Envelope,
    SignalTriagedV1,
    TopicRegistry,
)
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import CONSUMED, Extensions, compose
from signaalpunt_notifications.sinks import free_port
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.serving import serving
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics
from triage_stage import DATABASE, KAFKA, database_named, fill, own_cpu, postgres_cpu, raw_loop

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
EVENTS = int(os.environ.get("BENCH_NOTIFICATIONS_EVENTS", "2000"))
BATCH = int(os.environ.get("BENCH_NOTIFICATIONS_BATCH", "200"))
LOG_LEVEL = os.environ.get("BENCH_NOTIFICATIONS_LOG_LEVEL", "WARNING")
VARIANTS = (("one at a time (before)", 1), ("batches (now)", BATCH))
SINK = (
    "import sys, time\n"
    "from signaalpunt_notifications.sinks import Sinks\n"
    "Sinks(smtp_port=int(sys.argv[1])).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(3600)\n"
)


def backlog() -> list[bytes]:
    now = datetime.now(UTC)
    values = []
    for _ in range(EVENTS):
        triaged = SignalTriagedV1.model_validate(
            {
                "signal_id": str(uuid.uuid4()),
                "subject_id": str(uuid.uuid4()),
                "channel": "web_form",
                "decision": 1,
                "route": "team_eenzaamheid",
                "priority": "normal",
                "first_contact_due": (now + timedelta(days=3)).isoformat(),
                "needs_review": False,
                "decided_by": "rules",
                "rules_version": "default@bench",
                "received_at": now.isoformat(),
                "decided_at": now.isoformat(),
            }
        )
        event = Envelope.new(triaged, municipality="GM0715", producer="triage")
        values.append(event.model_dump_json().encode())
    return values


async def variant(name: str, batch: int, jwks: Path, smtp_port: int) -> dict[str, Any]:
    run = f"bench-notifications-{uuid.uuid4().hex[:8]}"
    consumed = [replace(t, name=f"{run}.{t.name}") for t in CONSUMED]
    outcome = replace(NOTIFICATIONS, name=f"{run}.{NOTIFICATIONS.name}")
    listed = replace(PARTNERS_LISTED, name=f"{run}.{PARTNERS_LISTED.name}")
    specs = TopicRegistry((*consumed, outcome, listed)).broker_topics()
    await ensure_topics(KAFKA, specs)
    (triaged,) = [t for t in consumed if t.name.endswith(SIGNALS_TRIAGED.name)]
    database = run.replace("-", "_")
    admin = await asyncpg.connect(DATABASE)
    await admin.execute(f'CREATE DATABASE "{database}"')
    dsn = database_named(database)
    try:
        await fill(triaged.name, backlog())
        settings = NotificationsSettings(
            database_url=dsn,  # type: ignore[arg-type]
            kafka_bootstrap=KAFKA,
            key_encryption_keys=KeyEncryptionKeys.generate_spec("bench"),  # type: ignore[arg-type]
            jwks_file=jwks,
            log_level=LOG_LEVEL,
            smtp_port=smtp_port,
            sender_workers=1,
            rate_limit=1_000_000,
            consume_batch_size=batch,
            partners_file=partners_file(),
        )
        composed = compose(
            settings,
            notifications=outcome,
            extensions=Extensions(topics=consumed, partners_listed=listed),
        )
        async with serving(composed.app):
            conn = await asyncpg.connect(dsn)
            try:
                deadline = time.monotonic() + 900
                count = "SELECT count(*) FROM notifications.deliveries"
                # a batch's rows share their transaction's time: the rate is measured from
                # here, from the first rows seen to the last, over the events planned between
                while not (first := await conn.fetchval(count)):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}: nothing planned after 900 s")
                    await asyncio.sleep(0.02)
                started, cpu = time.perf_counter(), (own_cpu(), postgres_cpu())
                while await conn.fetchval(count) < EVENTS:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name}: not done after 900 s")
                    await asyncio.sleep(0.02)
                seconds = time.perf_counter() - started
                spent = (own_cpu() - cpu[0], postgres_cpu() - cpu[1])
            finally:
                await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        await delete_topics(KAFKA, [s.name for s in specs])
    return {
        "variant": name,
        "events": EVENTS,
        "per_second": round((EVENTS - first) / seconds, 1),
        "cpu_ms_per_event_service": round(spent[0] * 1000 / (EVENTS - first), 2),
        "cpu_ms_per_event_postgres": round(spent[1] * 1000 / (EVENTS - first), 2),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Notifications' planning stage: a backlog worked off",
        "",
        f"{report['when']}, {report['machine']}; load average before/after: "
        f"{report['load_before']} / {report['load_after']}. {report['events']} triaged signals "
        f"(each plans the team's e-mail); batches of {report['batch']}; log level "
        f"{report['log_level']}; one sender worker mailing an SMTP server in its own process. "
        f"Raw consume→produce loop (batched) in the same run: "
        f"{report['raw_loop_per_second']:.0f} events/s.",
        "",
        "| variant | planned/s | of raw loop | CPU ms/event (service) "
        "| CPU ms/event (PostgreSQL) |",
        "|---|---|---|---|---|",
    ]
    for r in report["variants"]:
        lines.append(
            f"| {r['variant']} | {r['per_second']} | {r['of_raw_loop']:.1%} | "
            f"{r['cpu_ms_per_event_service']} | {r['cpu_ms_per_event_postgres']} |"
        )
    first, last = report["variants"][0], report["variants"][-1]

    def ratio(key: str) -> str:
        return f"{last[key] / first[key]:.2f}x"

    lines += [
        "",
        f"Batches against one at a time: {ratio('per_second')} the rate, "
        f"{ratio('cpu_ms_per_event_service')} the service's CPU and "
        f"{ratio('cpu_ms_per_event_postgres')} PostgreSQL's per event.",
    ]
    return "\n".join(lines) + "\n"


def start_sink(port: int) -> subprocess.Popen[str]:
    """The SMTP server in a process of its own: its CPU is not the service's."""
    sink = subprocess.Popen(  # noqa: S603 - this interpreter, our own sink
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "ready"
    return sink


def partners_file() -> Path:
    """The development partners with their webhook secrets (scripts/dev_secrets.py)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import dev_secrets  # noqa: PLC0415 - the scripts folder is not a package

    return dev_secrets.notifications_partners()


async def main() -> int:
    configure_logging("bench", LOG_LEVEL)
    load_before = [round(x, 2) for x in os.getloadavg()]
    jwks_dir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    generate_key_pair(jwks_dir)
    smtp_port = free_port()
    sink = start_sink(smtp_port)
    try:
        raw_topics = [
            f"bench-notifications-raw-{uuid.uuid4().hex[:8]}.{n}.v1" for n in ("in", "out")
        ]
        raw = replace(SIGNALS_TRIAGED, name=raw_topics[0], consumers=("none",))
        out = replace(SIGNALS_TRIAGED, name=raw_topics[1], consumers=("none",))
        raw_specs = TopicRegistry((raw, out)).broker_topics()
        await ensure_topics(KAFKA, raw_specs)
        try:
            await fill(raw.name, backlog())
            raw_rate = await raw_loop(raw.name, out.name, EVENTS)
        finally:
            await delete_topics(KAFKA, [s.name for s in raw_specs])
        print(f"raw loop: {raw_rate:.0f} events/s", flush=True)
        results = []
        for name, batch in VARIANTS:
            result = await variant(name, batch, jwks_dir / "jwks.json", smtp_port)
            result["of_raw_loop"] = result["per_second"] / raw_rate
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        sink.terminate()
        sink.wait(10)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "events": EVENTS,
        "batch": BATCH,
        "log_level": LOG_LEVEL,
        "raw_loop_per_second": raw_rate,
        "variants": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "notifications_stage.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "notifications_stage.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
