"""`make bench` (part 3): how long one partner's flood of bad events holds up another partner.

Intake runs as its own process on the local infrastructure. A housing association sends 20
valid reports (1) on their own and (2) right behind a GP's burst of 1,000 bad events
(plaintext, unsigned, invalid, outside the consortium) in the same partition (the worst case:
both URNs hash to one partition of partner.signals.v1). Measured: each valid report's delay
from its Kafka timestamp to the transaction that stored it, and the flood's refusal rate.

Results go to bench/results/partner_flood.{json,md}; docs/partners.md states the bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from dev_secrets import PARTNER_JWKS, environment, partner_signing_key, register_dev_partners
from signaalpunt_contracts import PARTNER_SIGNALS
from signaalpunt_privacy.partner_encryption import encrypt_for_intake, sign_and_encrypt
from signaalpunt_runtime.broker_factory import make_producer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
KAFKA = os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
PORT = int(os.environ.get("BENCH_INTAKE_PORT", "18102"))
BAD = int(os.environ.get("BENCH_FLOOD_EVENTS", "1000"))
GOOD = 20
GP = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"
HOUSING = "urn:signaalpunt:partner:woonstichting-walcheren"

Event = tuple[bytes, list[tuple[str, bytes]]]


def headers(partner: str, *, encrypted: bool = True) -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/jose" if encrypted else b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", f"bench-{uuid.uuid4()}".encode()),
        ("ce_source", partner.encode()),
        ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
    ]


def report(postcode: str, birth_year: object = 1941) -> bytes:
    return json.dumps(
        {
            "reporter": {"kind": "professional", "organisation": "Bench"},
            "subject": {"birth_year": birth_year, "postcode": postcode},
            "concern": {"text": "Komt alleen nog voor recepten.", "cues": ["lives_alone"]},
        }
    ).encode()


def flood(jwks: dict[str, Any]) -> list[Event]:
    key = partner_signing_key(GP)
    events: list[Event] = []
    for n in range(BAD):
        kind = n % 4
        if kind == 0:
            events.append((report("4532 AB"), headers(GP, encrypted=False)))
        elif kind == 1:
            events.append((encrypt_for_intake(report("4532 AB"), jwks), headers(GP)))
        elif kind == 2:
            events.append((sign_and_encrypt(report("1012 AB"), key, jwks), headers(GP)))
        else:
            events.append((sign_and_encrypt(report("4532 AB", "x"), key, jwks), headers(GP)))
    return events


def valid(jwks: dict[str, Any]) -> list[Event]:
    key = partner_signing_key(HOUSING)
    return [(sign_and_encrypt(report("4381 AB"), key, jwks), headers(HOUSING)) for _ in range(GOOD)]


async def send(partner: str, events: list[Event]) -> list[tuple[int, int, int]]:
    """(partition, offset, timestamp ms) of each event, sent as one burst."""
    producer = make_producer(KAFKA, client_id="bench-flood")
    await producer.start()
    try:
        futures = [
            await producer.send(PARTNER_SIGNALS.name, value, key=partner.encode(), headers=h)
            for value, h in events
        ]
        acked = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset, m.timestamp) for m in acked]


async def handled(conn: asyncpg.Connection, sent: list[tuple[int, int, int]]) -> dict[Any, float]:
    rows = await conn.fetch(
        'SELECT "partition", "offset", extract(epoch FROM processed_at) AS at FROM intake.inbox'
        " WHERE consumer = 'intake' AND topic = $1 AND \"partition\" = ANY($2::int[])"
        ' AND "offset" >= $3',
        PARTNER_SIGNALS.name,
        list({p for p, _, _ in sent}),
        min(o for _, o, _ in sent),
    )
    wanted = {(p, o) for p, o, _ in sent}
    return {
        (r["partition"], r["offset"]): float(r["at"])
        for r in rows
        if (r["partition"], r["offset"]) in wanted
    }


async def wait_for(conn: asyncpg.Connection, sent: list[tuple[int, int, int]]) -> dict[Any, float]:
    deadline = time.monotonic() + 900
    while len(done := await handled(conn, sent)) < len(sent):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(done)} of {len(sent)} events handled after 900 s")
        await asyncio.sleep(0.2)
    return done


def delays(sent: list[tuple[int, int, int]], done: dict[Any, float]) -> dict[str, float]:
    seconds = sorted(done[(p, o)] - ts / 1000 for p, o, ts in sent)
    return {
        "p50_s": round(statistics.median(seconds), 2),
        "max_s": round(seconds[-1], 2),
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(pid: int) -> dict[str, Any]:
    jwks = json.loads(PARTNER_JWKS.read_text())
    conn = await asyncpg.connect(DATABASE)
    try:
        alone = await send(HOUSING, valid(jwks))
        quiet = delays(alone, await wait_for(conn, alone))
        bad_events, good_events = flood(jwks), valid(jwks)
        started, cpu_before = time.time(), cpu_seconds(pid)
        bad = await send(GP, bad_events)
        good = await send(HOUSING, good_events)
        behind = delays(good, await wait_for(conn, good))
        refused = await wait_for(conn, bad)
        span = max(refused.values()) - started
        cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / (BAD + GOOD)
        return {
            "same_partition": {p for p, _, _ in bad} == {p for p, _, _ in good},
            "alone": quiet,
            "behind_flood": behind,
            "flood_refused_per_second": round(BAD / span, 1),
            "flood_transactions": len(set(refused.values())),
            "intake_cpu_ms_per_event": round(cpu_ms, 2),
            # what the flood costs on a core of intake's own: its CPU, not the machine's load
            "flood_on_a_free_core_s": round(cpu_ms * BAD / 1000, 1),
        }
    finally:
        await conn.close()


async def wait_healthy() -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(240):
            try:
                if (await client.get(f"http://127.0.0.1:{PORT}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("intake did not become healthy")


def main() -> int:
    env = {
        **os.environ,
        **environment(),
        "SIGNAALPUNT_INTAKE_HTTP_PORT": str(PORT),
        "SIGNAALPUNT_INTAKE_LOG_LEVEL": "WARNING",
    }
    register_dev_partners(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "signaalpunt_intake.main"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_healthy())
        figures = asyncio.run(run(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=60)
    load = os.getloadavg()[0]
    report_ = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f}",
        "bad_events": BAD,
        "valid_events": GOOD,
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "partner_flood.json").write_text(json.dumps(report_, indent=2) + "\n")
    lines = [
        "# One partner's flood and another partner's delay",
        "",
        f"{report_['when']} · {report_['machine']} · one intake process, PostgreSQL and Kafka "
        "on the same cores",
        "",
        f"A housing association's {GOOD} valid reports, alone and right behind a GP's burst of "
        f"{BAD} bad events"
        + (" in the same partition" if figures["same_partition"] else "")
        + " (delay: Kafka timestamp → stored):",
        "",
        "| | p50 | max |",
        "|---|---:|---:|",
        f"| alone | {figures['alone']['p50_s']} s | {figures['alone']['max_s']} s |",
        f"| behind the flood | {figures['behind_flood']['p50_s']} s "
        f"| {figures['behind_flood']['max_s']} s |",
        "",
        f"The flood was refused at {figures['flood_refused_per_second']:,.0f} events/s in "
        f"{figures['flood_transactions']} transactions (one per batch); every bad event told to "
        "the GP once.",
        "",
        f"Intake's CPU per event during the flood: {figures['intake_cpu_ms_per_event']} ms "
        "(decrypting, verifying, refusing, telling): on a core of intake's own the flood would "
        f"hold the other partner up for about {figures['flood_on_a_free_core_s']} s.",
        "",
    ]
    (RESULTS / "partner_flood.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
