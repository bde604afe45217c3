"""`make bench` (part 2): the intake service as its own process on the local infrastructure.

- `POST /v1/signals` (anonymous web form, rate limit lifted): accepted signals/s and p50/p99
  latency with 32, 64 and 128 concurrent clients, and with an Idempotency-Key at 64 (the load
  generator is a second process on the same cores, so the figures are a floor). Throughput
  grows with concurrency while the process has CPU to spare (group commit: more requests share
  each transaction), then stays level while latency grows: the level is the process's capacity;
- partner events through Kafka: CloudEvents on partner.signals.v1 → stored signals/s.

Results go to bench/results/intake.{json,md}. The goal in the intake issue: ≥ 2,000 accepted/s
per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from dev_secrets import PARTNER_JWKS, environment, partner_signing_key, register_dev_partners
from signaalpunt_contracts import PARTNER_SIGNALS
from signaalpunt_privacy.partner_encryption import sign_and_encrypt
from signaalpunt_runtime.broker_factory import make_producer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = os.environ.get(
    "SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
)
KAFKA = os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
PARTNER_EVENTS = int(os.environ.get("BENCH_PARTNER_EVENTS", "3000"))
CONCURRENCY = 32  # the httpx fallback (no wrk)
LOADS = ((32, False), (64, False), (128, False), (64, True))  # (concurrent clients, with key)
PORT = 18101
MANAGEMENT_PORT = 19101  # /readyz, /metrics
GP = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"


def form(i: int) -> dict[str, object]:
    return {
        "channel": "web_form",
        "reporter": {"kind": "relative_or_neighbour", "phone": "06-12345678", "may_contact": True},
        "subject": {
            "name": f"Bench Persoon {i}",
            "birth_year": 1940 + i % 50,
            "postcode": "4531 AB",
        },
        "concern": {"text": "Ziet niemand meer.", "cues": ["lives_alone", "no_visitors"]},
    }


async def http_load() -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{PORT}", limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.post("/v1/signals", json=form(i))
                assert answer.status_code == 202, answer.text
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "accepted_per_second": round(REQUESTS / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
    }


WRK_SCRIPT = """
-- each wrk thread has a Lua state of its own, with the same random seed (and every run the same
-- sequence): RUN (set per run) and the thread number make every name and Idempotency-Key new, so
-- no request is answered as a retry of an earlier run's
local threads = 0
setup = function(thread)
  thread:set("id", threads)
  threads = threads + 1
end
init = function(args)
  id = tonumber(wrk.thread:get("id"))
end
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"channel":"web_form","reporter":{"kind":"relative_or_neighbour","phone":"06-12345678",' ..
    '"may_contact":true},"subject":{"name":"Bench Persoon %s-%d-%d","birth_year":%d,' ..
    '"postcode":"4531 AB"},"concern":{"text":"Ziet niemand meer.",' ..
    '"cues":["lives_alone","no_visitors"]}}', RUN, id, counter, 1940 + counter % 50)
  local headers = {["Content-Type"] = "application/json"}
  if IDEMPOTENCY then
    headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", RUN, id, counter)
  end
  return wrk.format("POST", "/v1/signals", headers, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%.3f,"non_2xx":%d,"p50_ms":%.1f,"p99_ms":%.1f,"errors":%d}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _pids(pattern: str) -> list[int]:
    found = subprocess.run(  # noqa: S603 - fixed argument list
        [shutil.which("pgrep") or "pgrep", "-f", pattern],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [int(p) for p in found.split()]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (from /proc; a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _count_instructions(pid: int, seconds: int) -> subprocess.Popen[str] | None:
    """`perf stat` on the intake process for the measured run, where perf can count."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    return subprocess.Popen(  # noqa: S603 - fixed argument list
        [
            perf,
            "stat",
            "-x,",
            "-e",
            "instructions,cycles",
            "-p",
            str(pid),
            "--",
            "sleep",
            str(seconds),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counted(counting: subprocess.Popen[str] | None) -> tuple[int, int]:
    if counting is None:
        return 0, 0
    _, err = counting.communicate(timeout=120)
    found = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            found[fields[2]] = int(fields[0])
    return found.get("instructions", 0), found.get("cycles", 0)


def wrk_load(
    server: int, *, concurrency: int, seconds: int = 20, idempotency: bool = False
) -> dict[str, Any]:
    """The form sent by wrk (C, a small share of a core), after a 5 s warm-up; with the CPU
    time that the intake process, PostgreSQL and Kafka spent per accepted signal meanwhile."""
    script = RESULTS / "intake-bench.lua.tmp"
    RESULTS.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f'IDEMPOTENCY = {"true" if idempotency else "false"}\nRUN = "{uuid.uuid4().hex[:12]}"\n'
        + WRK_SCRIPT
    )
    wrk = shutil.which("wrk") or "wrk"
    url = f"http://127.0.0.1:{PORT}"
    try:
        subprocess.run(  # noqa: S603 - fixed argument list
            [wrk, "-t2", f"-c{concurrency}", "-d5s", "-s", str(script), url],
            check=True,
            capture_output=True,
        )
        groups = {"intake": [server], "postgres": _pids("postgres"), "kafka": _pids("kafka.Kafka")}
        before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
        counting = _count_instructions(server, seconds)
        out = subprocess.run(  # noqa: S603 - fixed argument list
            [wrk, "-t2", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        spent = {name: _cpu_seconds(pids) - before[name] for name, pids in groups.items()}
        instructions, cycles = _counted(counting)
    finally:
        script.unlink(missing_ok=True)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    data = json.loads(line[4:])
    accepted = data["requests"] - data["non_2xx"]
    cpu_ms = {name: round(1000 * cpu / max(accepted, 1), 3) for name, cpu in spent.items()}
    return {
        "generator": "wrk",
        "concurrency": concurrency,
        "idempotency_key": idempotency,
        "requests": data["requests"],
        "refused": data["non_2xx"],
        "socket_errors": data["errors"],
        "accepted_per_second": round(accepted / data["seconds"], 1),
        "p50_ms": data["p50_ms"],
        "p99_ms": data["p99_ms"],
        "cpu_ms_per_signal": cpu_ms,
        # CPU time depends on how busy the host is; the instruction count per signal does not
        # (perf stat, when the machine allows it)
        "intake_instructions_per_signal": round(instructions / accepted) if instructions else None,
        "intake_instructions_per_cycle": round(instructions / cycles, 2) if cycles else None,
        "intake_cores_busy": round(spent["intake"] / data["seconds"], 2),
        # what one intake process would accept with a core of its own (PostgreSQL and Kafka
        # elsewhere), from the CPU it spent per signal here
        "intake_capacity_per_core": round(1000 / cpu_ms["intake"]) if cpu_ms["intake"] else 0,
    }


async def partner_load() -> dict[str, float]:
    conn = await asyncpg.connect(DATABASE)
    before = await conn.fetchval(
        "SELECT count(*) FROM intake.signals WHERE channel = 'partner_event'"
    )
    jwks = json.loads(PARTNER_JWKS.read_text())
    # encrypted beforehand: each partner system encrypts on its own machine, not intake's
    events = []
    for i in range(PARTNER_EVENTS):
        data = form(i) | {}
        data.pop("channel")
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"bench-{uuid.uuid4()}".encode()),
            ("ce_source", GP.encode()),
            ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
            ("content-type", b"application/jose"),
        ]
        signed = sign_and_encrypt(json.dumps(data).encode(), partner_signing_key(GP), jwks)
        events.append((signed, headers))
    producer = make_producer(KAFKA, client_id="bench-partner")
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [
            await producer.send(PARTNER_SIGNALS.name, value, key=GP.encode(), headers=headers)
            for value, headers in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    want = before + PARTNER_EVENTS
    deadline = time.monotonic() + 600
    while (
        await conn.fetchval("SELECT count(*) FROM intake.signals WHERE channel = 'partner_event'")
        < want
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("partner events not all stored after 600 s")
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    await conn.close()
    return {"stored_per_second": round(PARTNER_EVENTS / elapsed, 1)}


async def wait_healthy() -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(120):
            try:
                ready = await client.get(f"http://127.0.0.1:{MANAGEMENT_PORT}/readyz")
                if ready.status_code == 200:
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
        "SIGNAALPUNT_INTAKE_MANAGEMENT_PORT": str(MANAGEMENT_PORT),
        "SIGNAALPUNT_INTAKE_LOG_LEVEL": "WARNING",
        "SIGNAALPUNT_INTAKE_WEB_FORM_LIMIT": "100000000",
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
        if shutil.which("wrk"):
            runs: list[dict[str, Any]] = [
                wrk_load(server.pid, concurrency=concurrency, idempotency=keyed)
                for concurrency, keyed in LOADS
            ]
        else:
            runs = [
                {
                    "generator": "httpx",
                    "concurrency": CONCURRENCY,
                    "idempotency_key": False,
                    **asyncio.run(http_load()),
                }
            ]
        partner = asyncio.run(partner_load())
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "http": runs,
        "partner_events": {"events": PARTNER_EVENTS, **partner},
        "goal": "≥ 2,000 accepted/s per process",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intake.json").write_text(json.dumps(report, indent=2) + "\n")
    best = max(runs, key=lambda r: r["accepted_per_second"])
    lines = [
        "# Intake benchmark",
        "",
        f"{report['when']} · {report['machine']} · one intake process (log level WARNING), "
        f"PostgreSQL, Kafka and the load generator ({best['generator']}) on the same cores",
        "",
        "| POST /v1/signals | "
        + " | ".join(
            f"{r['concurrency']} concurrent" + (", Idempotency-Key" if r["idempotency_key"] else "")
            for r in runs
        )
        + " |",
        "|---|" + "---:|" * len(runs),
    ]

    def row(label: str, value: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(value(r) for r in runs) + " |"

    lines += [
        row("accepted/s", lambda r: f"{r['accepted_per_second']:,.0f}"),
        row("latency p50", lambda r: f"{r['p50_ms']} ms"),
        row("latency p99", lambda r: f"{r['p99_ms']} ms"),
    ]
    if "cpu_ms_per_signal" in best:
        for name in ("intake", "postgres", "kafka"):

            def cpu(r: dict[str, Any], name: str = name) -> str:
                return f"{r['cpu_ms_per_signal'][name]:.2f} ms"

            lines.append(row(f"CPU per signal: {name}", cpu))
        if best.get("intake_instructions_per_signal"):
            lines += [
                row(
                    "intake instructions per signal (perf stat)",
                    lambda r: f"{r['intake_instructions_per_signal'] / 1e6:.2f} M",
                ),
                row(
                    "intake instructions per cycle",
                    lambda r: f"{r['intake_instructions_per_cycle']}",
                ),
            ]
        lines += [
            row("intake process busy", lambda r: f"{r['intake_cores_busy']:.0%} of a core"),
            row(
                "one intake process on a core of its own (1 s ÷ its CPU per signal)",
                lambda r: f"{r['intake_capacity_per_core']:,}/s",
            ),
        ]
    lines += [
        "",
        f"Most accepted: {best['accepted_per_second']:,.0f}/s at {best['concurrency']} concurrent "
        f"(p99 {best['p99_ms']} ms).",
        "",
        f"Partner events through Kafka ({PARTNER_EVENTS} CloudEvents): "
        f"{partner['stored_per_second']:,.0f} stored/s.",
        "",
        "Goal (intake issue): ≥ 2,000 accepted/s per process.",
        "",
    ]
    (RESULTS / "intake.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
