"""`make chaos`: signals through every channel while services, the broker and PostgreSQL fail.

What it does, on the local infrastructure (`deploy/local/infra.sh`):
1. a fresh database for this run (so every count below is this run's), every service as its own
   process (as `make run`), local receivers for e-mail, SMS and webhooks;
2. signals through every channel: the phone desk and the partner portal over HTTP (each with an
   `Idempotency-Key`, retried with the same key after an error or a timeout, as a real client
   does, waiting as long as `Retry-After` says) and a GP's system over Kafka (encrypted
   CloudEvents, resent with the same id after an error); a share of them acute; the signals are
   spread over the whole fault window, so they come in during every outage and the broker kill;
   for a share of the others the desk records a help question (buddy need, consent) once the
   case is triaged, and every route refers automatically (referral and matching);
3. meanwhile: a random service SIGKILLed every few seconds (and started again), the broker killed
   with -9 and started again, PostgreSQL stopped with `-m immediate` for each of the outages
   (10 s, 60 s and 200 s at full size);
4. then waits until the pipeline is quiet and counts: accepted, stored once, triaged once,
   notified once per dedupe key, referred once (one help question, ranked once, one offer sent,
   one match request in referral and in matching), dead-lettered (must be 0: the input is
   well-formed), the time to recover after the last fault, and how late the acute alerts went
   out (within `--acute-bound` of the end of the last fault, 300 s by default); every stage must
   have resumed by itself (no paused consumer at the end);
5. writes `bench/results/chaos.md` and `chaos.png` (a timeline: faults, accepted and handled).

    uv run python bench/chaos.py                       # full size: 10,000 signals, 3 outages
    uv run python bench/chaos.py --signals 300 --outages 8 --service-kills 3 --name chaos-small

Ports for the services: `SIGNAALPUNT_CHAOS_PORT_BASE` (default 18100; one consecutive port per
service of `scripts/run_all.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import run_all  # noqa: E402
from demo_parts import notifications as notifications_part  # noqa: E402
from dev_secrets import (  # noqa: E402
    AUTH,
    PARTNER_JWKS,
    environment,
    partner_signing_key,
    register_dev_partners,
)
from signaalpunt_access.dev_tokens import mint  # noqa: E402
from signaalpunt_contracts import PARTNER_SIGNALS, REGISTRY  # noqa: E402
from signaalpunt_privacy.partner_encryption import sign_and_encrypt  # noqa: E402
from signaalpunt_runtime.broker_factory import make_producer  # noqa: E402
from signaalpunt_runtime.dead_letters import dead_letter_topics  # noqa: E402

RESULTS = REPO / "bench" / "results"
INFRA = REPO / "deploy" / "local" / "infra.sh"
GP = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"
POSTCODES = ("4531 GH", "4532 AB", "4533 AB", "4535 CD")


@dataclass
class Plan:
    signals: int = 10_000
    outages: tuple[float, ...] = (10.0, 60.0, 200.0)
    broker_kills: int = 1
    service_kills: int = 20
    kill_every: float = 6.0
    rate: float = 40.0
    """the most signals per second offered: they are spread over the whole fault window, so
    signals come in during every outage and the broker kill (and the rest after it)"""
    acute_share: float = 0.05
    partner_share: float = 0.3
    help_share: float = 0.05
    """share of the (non-acute, HTTP) signals for which the desk records a help question, with
    a buddy need and consent: referral ranks it (and, the routes being automatic, sends the best
    offer) and asks matching for a volunteer"""
    max_clients: int = 2000
    """HTTP clients waiting at once (each retrying with its own key); more wait to be offered"""
    quiet_timeout: float = 900.0
    acute_bound: float = 300.0
    """the promise this run checks: every acute alert went out within this many seconds of the
    end of the last fault (a run that takes longer fails)"""
    name: str = "chaos"
    seed: int = 14


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    faults: list[tuple[float, float, str]] = field(default_factory=list)
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    """(t, accepted, stored, triaged)"""
    offered: list[float] = field(default_factory=list)
    """when each signal was first offered"""
    expected_end: float = 0.0
    """when the faults are expected to be over (updated as they happen): the load spreads its
    signals until then"""
    faults_over: bool = False

    def now(self) -> float:
        return time.monotonic() - self.started

    def wall(self, seconds: float) -> datetime:
        return self.started_at + timedelta(seconds=seconds)

    def offered_during(self, start: float, end: float) -> int:
        return sum(1 for t in self.offered if start <= t <= end)


def progress(timeline: Timeline, what: str) -> None:
    """One line per phase on stderr: on a loaded machine a run is long, and this shows where."""
    print(f"[chaos {timeline.now():7.1f} s] {what}", file=sys.stderr, flush=True)


@dataclass
class Load:
    accepted_http: dict[str, str] = field(default_factory=dict)
    """Idempotency-Key → signal id intake answered (the same for every retry of that key)"""
    answers_per_key: Counter[str] = field(default_factory=Counter)
    partner_sent: set[str] = field(default_factory=set)
    acute: set[str] = field(default_factory=set)
    """references (key or ce id) of acute signals"""
    http_retries: int = 0
    """HTTP requests sent again with the same Idempotency-Key (after an error or a timeout)"""
    partner_resends: int = 0
    """partner events sent again with the same id (the broker did not acknowledge)"""
    help_questions: set[str] = field(default_factory=set)
    """signal ids for which the desk recorded a help question"""
    desk_retries: int = 0
    refused: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def retries(self) -> int:
        return self.http_retries + self.partner_resends + self.desk_retries


# -- the services --------------------------------------------------------------------------------


class Services:
    """Every service as its own process, as `make run` starts them, each restartable."""

    def __init__(self, env: dict[str, str], port_base: int, log_dir: Path) -> None:
        self.env = env
        self.ports = {name: port_base + i for i, (name, _, _) in enumerate(run_all.SERVICES)}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def management_url(self, name: str) -> str:
        """Readiness, /metrics and the docs: the management port, as `make run` gives it."""
        return f"http://127.0.0.1:{run_all.management_port(self.ports[name])}"

    def start(self, name: str) -> None:
        module = next(m for n, m, _ in run_all.SERVICES if n == name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        output = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(  # noqa: S603 - fixed argument list
            [sys.executable, "-m", module],
            cwd=REPO,
            env={
                **self.env,
                f"SIGNAALPUNT_{name.upper()}_HTTP_PORT": str(self.ports[name]),
                f"SIGNAALPUNT_{name.upper()}_MANAGEMENT_PORT": str(
                    run_all.management_port(self.ports[name])
                ),
            },
            stdout=output,
            stderr=output,
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        run_all.stop(list(self.procs.values()))

    async def healthy(self, seconds: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        checks: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=3) as client:
            for name in self.ports:
                while True:
                    ready, checks[name] = await run_all.readiness(client, self.management_url(name))
                    if ready:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} not healthy; logs in {self.log_dir}")
                    await asyncio.sleep(0.5)
        return checks


async def infra(verb: str, component: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(INFRA),
        verb,
        component,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"infra.sh {verb} {component}: {err.decode()[-1000:]}")


# -- the load ------------------------------------------------------------------------------------


def _tokens() -> tuple[dict[str, str], dict[str, str]]:
    desk = mint(
        AUTH,
        subject="urn:signaalpunt:staff:loket-terneuzen",
        kind="staff",
        municipalities=["GM0715", "GM0677"],
        roles=["desk"],
    )
    jumbo = mint(
        AUTH,
        subject="urn:signaalpunt:partner:jumbo-terneuzen",
        kind="partner",
        municipalities=["GM0715"],
        channels=["partner_portal"],
        partner_type="supermarkt",
    )
    return {"Authorization": f"Bearer {desk}"}, {"Authorization": f"Bearer {jumbo}"}


def _report(i: int, acute: bool, rng: random.Random) -> dict[str, Any]:
    text = (
        "Buurman ligt op de vloer en kan niet meer opstaan, acuut gevaar."
        if acute
        else "Mevrouw is erg eenzaam sinds haar man overleed."
    )
    return {
        "reporter": {"kind": "professional", "organisation": "Welzijn Terneuzen"},
        "subject": {
            "name": f"Chaos Persoon {i}",
            "birth_year": rng.randint(1930, 1990),
            "postcode": rng.choice(POSTCODES),
        },
        "concern": {"text": text, "cues": ["lives_alone"]},
    }


HELP_QUESTION = {
    "needs": ["buddy", "social_contact"],
    "text": "Zou graag iemand hebben om wekelijks koffie mee te drinken",
    "languages": ["nl"],
    "mobility": "needs_transport",
    "age": 78,
    "near_lat": 51.33,
    "near_lon": 3.83,
    "consent_to_refer": True,
}
HTTP_CONNECTIONS = 100
"""requests on the wire at once (the HTTP clients beyond wait their turn in the harness)"""
CLIENT_MAX_DELAY = 16.0
"""the longest a client waits before it tries again (a real client backs off as well)"""


def _client_backoff(attempt: int, rng: random.Random) -> float:
    return float(min(CLIENT_MAX_DELAY, 0.5 * 2**attempt) * rng.uniform(0.8, 1.2))


async def _post_until_accepted(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    load: Load,
    rng: random.Random,
    in_flight: asyncio.Semaphore,
) -> str | None:
    """The signal id intake answered, after as many tries with the same key as it takes (None:
    refused as malformed, which this run's input never is). `in_flight` bounds the requests
    on the wire: httpx's pool scans its whole queue for every request, and 2,000 clients
    queued there during the 200 s outage took the harness's event loop for minutes (the
    outage's end came 6 minutes late)."""
    key = str(uuid.uuid4())
    attempt = 0
    while True:
        try:
            async with in_flight:
                answer = await client.post(
                    f"{url}/v1/signals", json=body, headers={**headers, "Idempotency-Key": key}
                )
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code == 202:
            signal_id = str(answer.json()["signal_id"])
            load.accepted_http[key] = signal_id
            load.answers_per_key[key] += 1
            if body["concern"]["text"].endswith("acuut gevaar."):
                load.acute.add(key)
            return signal_id
        if (
            answer is not None
            and 400 <= answer.status_code < 500
            and answer.status_code
            not in (
                409,
                429,
            )
        ):
            load.refused.append(f"{answer.status_code} {answer.text[:200]}")
            return None
        load.http_retries += 1  # the same key again, as a client does after an error or a timeout
        wait = _client_backoff(attempt, rng)
        if answer is not None and answer.headers.get("retry-after", "").isdigit():
            wait = max(wait, float(answer.headers["retry-after"]))
        await asyncio.sleep(wait)
        attempt += 1


async def _send_partner_event(
    producer: Any, jwks: dict[str, Any], body: dict[str, Any], load: Load, acute: bool
) -> None:
    event_id = f"chaos-{uuid.uuid4().hex}"
    # the GP's system signs with its own registered key and encrypts to intake's published key
    value = sign_and_encrypt(json.dumps(body).encode(), partner_signing_key(GP), jwks)
    headers = [
        ("content-type", b"application/jose"),
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", GP.encode()),
        ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
        ("ce_time", b"2026-12-01T09:00:00Z"),
    ]
    while True:
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    PARTNER_SIGNALS.name, value=value, key=GP.encode(), headers=headers
                ),
                30,
            )
            break
        except Exception:  # the broker is down: the partner's system sends the same id again
            load.partner_resends += 1
            await asyncio.sleep(1.0)
    load.partner_sent.add(event_id)
    if acute:
        load.acute.add(event_id)


async def _record_help_question(
    client: httpx.AsyncClient, url: str, signal_id: str, desk: dict[str, str], load: Load
) -> None:
    """The desk calls the person back and records their help question, as the demo does, through
    whatever fails meanwhile. Like a desk worker after an error, it looks at the case again
    before it tries again, so a help question that was stored (its answer lost) is not recorded
    a second time."""
    case_url = f"{url}/v1/triage/signals/{signal_id}"
    while True:
        try:
            case = await client.get(case_url, headers=desk)
            if case.status_code == 404:  # not triaged yet
                await asyncio.sleep(2.0)
                continue
            if case.status_code == 200:
                detail = case.json()
                if any(s["step"] == "help_question_recorded" for s in detail["steps"]):
                    load.help_questions.add(signal_id)
                    return
                state = detail["case"]["state"]
                if state == "triaged":
                    step: dict[str, Any] = {"step": "reporter_contacted"}
                elif state in ("in_intake", "referred"):
                    step = {"step": "help_question_recorded", "help_question": HELP_QUESTION}
                else:
                    load.refused.append(f"help question for a case in state {state}")
                    return
                answer = await client.post(f"{case_url}/steps", json=step, headers=desk)
                if answer.status_code == 200:
                    continue  # look again: the next step, or done
                if 400 <= answer.status_code < 500 and answer.status_code != 409:
                    load.refused.append(f"step {answer.status_code} {answer.text[:200]}")
                    return
        except httpx.HTTPError:
            pass
        load.desk_retries += 1
        await asyncio.sleep(2.0)


async def _automatic_referral(client: httpx.AsyncClient, url: str) -> None:
    """Every route of the run's municipalities refers automatically: the best offer is sent to
    its organisation without waiting for the team, so a help question ends in one referral
    sent (and one mail to the organisation)."""
    for municipality in ("GM0715", "GM0677"):
        token = mint(
            AUTH,
            subject="urn:signaalpunt:staff:regisseur-chaos",
            kind="staff",
            municipalities=[municipality],
            roles=["coordinator"],
        )
        for route in ("team_eenzaamheid", "team_welzijn", "mogelijk_acuut", "jeugdteam"):
            answer = await client.put(
                f"{url}/v1/referral/routes/{municipality}/{route}",
                json={"auto_refer": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()


def _http_signal(
    i: int, report: dict[str, Any], desk: dict[str, str], jumbo: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Half by the phone desk, half through the partner portal by a supermarket."""
    if i % 2:
        return {**report, "channel": "phone"}, desk
    report["reporter"] = {"kind": "business", "organisation": "Jumbo Terneuzen"}
    return {**report, "channel": "partner_portal"}, jumbo


def _pace(plan: Plan, timeline: Timeline, *, left: int) -> float:
    """The wait before the next signal: the time the faults are expected to last yet, shared by
    the signals left (never faster than `plan.rate`)."""
    if timeline.faults_over or left == 0:
        return 1 / plan.rate
    # a fault that lasts longer than expected: keep offering, a little faster
    time_left = max(timeline.expected_end - timeline.now(), FAULT_SLACK)
    return max(1 / plan.rate, time_left / left)


async def offer_load(
    plan: Plan, services: Services, bootstrap: str, load: Load, timeline: Timeline
) -> None:
    """Offers the signals spread over the fault window (at most `plan.rate` a second): each
    waits `time left / signals left`, with the time left as `infra_faults` expects it."""
    rng = random.Random(plan.seed)
    jitter = random.Random(plan.seed + 2)  # apart, so retries leave the signals as they are
    desk, jumbo = _tokens()
    jwks = json.loads(PARTNER_JWKS.read_text())
    producer = make_producer(bootstrap, client_id="chaos-partner")
    await producer.start()
    pending: set[asyncio.Task[Any]] = set()
    http_waiting = 0
    help_every = round(1 / plan.help_share) if plan.help_share > 0 else 0
    non_acute_http = 0
    in_flight = asyncio.Semaphore(HTTP_CONNECTIONS)

    def track(job: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(job)
        pending.add(task)
        task.add_done_callback(pending.discard)
        return task

    async def http(url: str, body: dict[str, Any], headers: dict[str, str], help_: bool) -> None:
        nonlocal http_waiting
        http_waiting += 1
        try:
            signal_id = await _post_until_accepted(
                client, url, body, headers, load=load, rng=jitter, in_flight=in_flight
            )
        finally:
            http_waiting -= 1
        if help_ and signal_id is not None:
            await _record_help_question(client, services.url("triage"), signal_id, desk, load)

    try:
        async with httpx.AsyncClient(
            timeout=15,
            limits=httpx.Limits(
                max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_CONNECTIONS
            ),
        ) as client:
            if help_every:
                await _automatic_referral(client, services.url("referral"))
            for i in range(plan.signals):
                acute = rng.random() < plan.acute_share
                report = _report(i, acute, rng)
                timeline.offered.append(timeline.now())
                if rng.random() < plan.partner_share:
                    track(_send_partner_event(producer, jwks, report, load, acute))
                else:
                    help_ = False
                    if not acute:
                        help_ = bool(help_every) and non_acute_http % help_every == 0
                        non_acute_http += 1
                    body, headers = _http_signal(i, report, desk, jumbo)
                    track(http(services.url("intake"), body, headers, help_))
                while http_waiting > plan.max_clients:  # noqa: ASYNC110 - bounded clients
                    await asyncio.sleep(0.05)
                await asyncio.sleep(_pace(plan, timeline, left=plan.signals - i - 1))
            await asyncio.gather(*pending)
    finally:
        load.done = True
        await producer.stop()


# -- the faults ----------------------------------------------------------------------------------


async def kill_services(
    plan: Plan, services: Services, timeline: Timeline, stop: asyncio.Event
) -> int:
    rng = random.Random(plan.seed + 1)
    kills = 0
    while kills < plan.service_kills and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), plan.kill_every)
            break
        name = rng.choice(list(services.ports))
        started = timeline.now()
        services.kill(name)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        services.start(name)
        timeline.faults.append((started, timeline.now(), f"kill -9 {name}"))
        kills += 1
    return kills


CALM = 15.0
"""seconds between two infrastructure faults"""
RESTART_ESTIMATE = 10.0
"""what a restart of Kafka or PostgreSQL is expected to take (for spreading the load only)"""
FAULT_SLACK = 5.0
"""the time left the load assumes while a fault lasts longer than expected"""


async def infra_faults(plan: Plan, timeline: Timeline) -> None:
    """PostgreSQL outages and broker kills, one after another with some calm between."""
    faults: list[tuple[str, float]] = [("postgres", d) for d in plan.outages]
    for i in range(plan.broker_kills):
        faults.insert(min(1 + 2 * i, len(faults)), ("kafka", 8.0))

    def expect(remaining: list[tuple[str, float]]) -> None:
        timeline.expected_end = timeline.now() + sum(
            CALM + seconds + RESTART_ESTIMATE for _, seconds in remaining
        )

    try:
        for n, (component, seconds) in enumerate(faults):
            expect(faults[n:])
            await asyncio.sleep(CALM)
            started = timeline.now()
            progress(timeline, f"{component} down")
            await infra("crash", component)
            await asyncio.sleep(seconds)
            await infra("up", component)
            progress(timeline, f"{component} up again")
            label = (
                f"PostgreSQL stopped {seconds:.0f} s"
                if component == "postgres"
                else "Kafka kill -9"
            )
            timeline.faults.append((started, timeline.now(), label))
    finally:
        timeline.faults_over = True


# -- counting ------------------------------------------------------------------------------------


@dataclass
class Referred:
    """What became of the help questions the desk recorded (one per signal, buddy need and
    consent, automatic routes): once each in triage, ranked once by referral, one offer sent,
    one match request in referral and one in matching."""

    asked: int = 0
    """help questions the desk recorded (its answer seen)"""
    recorded_twice: int = 0
    """signals with more than one help question step in triage"""
    ranked: int = 0
    """help questions referral holds"""
    ranked_twice: int = 0
    """signals whose offers were ranked more than once (or withdrawn: a second help question)"""
    referred: int = 0
    """signals with exactly one offer sent to its organisation"""
    referred_twice: int = 0
    match_requested: int = 0
    """signals with exactly one match request in referral and one in matching"""
    match_requested_twice: int = 0

    @property
    def all_once(self) -> bool:
        return (
            self.recorded_twice == 0
            and self.ranked_twice == 0
            and self.referred_twice == 0
            and self.match_requested_twice == 0
            and self.ranked == self.referred == self.match_requested == self.asked
        )


@dataclass
class Counts:
    accepted: int
    stored: int
    stored_twice: int
    triaged: int
    triaged_twice: int
    notified: int
    pending_notifications: int
    acute_accepted: int
    acute_alerts_sent: int
    acute_alert_latest_seconds: float | None
    """the longest time from a signal's receipt to its acute alert"""
    last_acute_alert_at: datetime | None
    """when the last acute alert went out (to compare with the end of the last fault)"""
    referral: Referred = field(default_factory=Referred)


async def count(dsn: str, load: Load) -> Counts:
    conn = await asyncpg.connect(dsn)
    try:
        http_ids = list(set(load.accepted_http.values()))
        refs = [f"{GP}#{event_id}" for event_id in load.partner_sent]
        rows = await conn.fetch(
            "SELECT signal_id, signal->>'partner_reference' AS ref FROM intake.signals"
            " WHERE signal_id = ANY($1::uuid[]) OR signal->>'partner_reference' = ANY($2::text[])",
            http_ids,
            refs,
        )
        ids = [row["signal_id"] for row in rows]
        per_ref = Counter(row["ref"] for row in rows if row["ref"])
        triage = await _fetch_or_empty(
            conn,
            "SELECT signal_id, count(*) AS n FROM triage.decisions WHERE decision = 1"
            " AND signal_id = ANY($1::uuid[]) GROUP BY signal_id",
            ids,
        )
        deliveries = await _fetch_or_empty(
            conn,
            "SELECT status, urgency, count(*) AS n FROM notifications.deliveries"
            " WHERE signal_id = ANY($1::uuid[]) GROUP BY status, urgency",
            ids,
        )
        acute_ids = [
            row["signal_id"]
            for row in rows
            if (row["ref"] and row["ref"].split("#", 1)[1] in load.acute)
            or str(row["signal_id"])
            in {load.accepted_http[k] for k in load.acute if k in load.accepted_http}
        ]
        latest = await _fetch_or_empty(
            conn,
            "SELECT count(DISTINCT d.signal_id) AS alerted,"
            " extract(epoch FROM max(d.sent_at - s.received_at)) AS latest,"
            " max(d.sent_at) AS last_sent"
            " FROM notifications.deliveries d JOIN intake.signals s USING (signal_id)"
            " WHERE d.urgency = 'acute' AND d.status = 'sent' AND d.signal_id = ANY($1::uuid[])",
            acute_ids,
        )
        referral = await _referred(conn, sorted(load.help_questions))
    finally:
        await conn.close()
    sent = sum(r["n"] for r in deliveries if r["status"] == "sent")
    pending = sum(r["n"] for r in deliveries if r["status"] == "pending")
    return Counts(
        accepted=len(load.accepted_http) + len(load.partner_sent),
        stored=len(set(ids)),
        stored_twice=sum(1 for n in per_ref.values() if n > 1)
        + (len(http_ids) - len(set(http_ids))),
        triaged=len(triage),
        triaged_twice=sum(1 for r in triage if r["n"] > 1),
        notified=sent,
        pending_notifications=pending,
        acute_accepted=len(load.acute),
        acute_alerts_sent=int(latest[0]["alerted"]) if latest else 0,
        acute_alert_latest_seconds=(
            float(latest[0]["latest"]) if latest and latest[0]["latest"] is not None else None
        ),
        last_acute_alert_at=latest[0]["last_sent"] if latest else None,
        referral=referral,
    )


async def _referred(conn: asyncpg.Connection, signal_ids: list[str]) -> Referred:
    steps = await _fetch_or_empty(
        conn,
        "SELECT signal_id, count(*) AS n FROM triage.steps WHERE step = 'help_question_recorded'"
        " AND signal_id = ANY($1::uuid[]) GROUP BY signal_id",
        signal_ids,
    )
    ranked = await _fetch_or_empty(
        conn,
        "SELECT h.signal_id, count(DISTINCT r.created_at) AS rankings,"
        " count(*) FILTER (WHERE r.status = 'withdrawn') AS withdrawn,"
        " count(*) FILTER (WHERE r.status NOT IN ('proposed', 'withdrawn')) AS sent"
        " FROM referral.help_questions h LEFT JOIN referral.referrals r USING (signal_id)"
        " WHERE h.signal_id = ANY($1::uuid[]) GROUP BY h.signal_id",
        signal_ids,
    )
    in_referral = await _fetch_or_empty(
        conn,
        "SELECT signal_id, count(*) AS n FROM referral.match_requests"
        " WHERE signal_id = ANY($1::uuid[]) GROUP BY signal_id",
        signal_ids,
    )
    in_matching = await _fetch_or_empty(
        conn,
        "SELECT signal_id, count(*) AS n FROM matching.match_requests"
        " WHERE signal_id = ANY($1::uuid[]) GROUP BY signal_id",
        signal_ids,
    )
    matching_n = {r["signal_id"]: r["n"] for r in in_matching}
    return Referred(
        asked=len(signal_ids),
        recorded_twice=sum(1 for r in steps if r["n"] > 1),
        ranked=len(ranked),
        ranked_twice=sum(1 for r in ranked if r["rankings"] > 1 or r["withdrawn"]),
        referred=sum(1 for r in ranked if r["sent"] == 1),
        referred_twice=sum(1 for r in ranked if r["sent"] > 1),
        match_requested=sum(
            1 for r in in_referral if r["n"] == 1 and matching_n.get(r["signal_id"]) == 1
        ),
        match_requested_twice=sum(1 for r in in_referral if r["n"] > 1)
        + sum(1 for n in matching_n.values() if n > 1),
    )


async def _receivers(dsn: str, sinks: Any) -> tuple[int, int, int]:
    """What the receivers got against the delivery log: (received again under the same delivery
    id, sent but never received, received but not sent in the log)."""
    ids = [item[1] for item in notifications_part._received(sinks)]
    sent_ids = await _sent_delivery_ids(dsn)
    # a message sent again under its own delivery id (a crash or outage between the send and
    # the commit that marks it sent) is at-least-once towards the receiver and recognisable:
    # counted, not a failure; a delivery sent but never received, or received but not in the
    # log, is one
    resent_same_id = sum(n - 1 for n in Counter(ids).values() if n > 1)
    never_received = len(sent_ids - set(ids))
    not_in_log = len(set(ids) - sent_ids)
    return resent_same_id, never_received, not_in_log


async def _sent_delivery_ids(dsn: str) -> set[str]:
    """Every delivery of this run's database the log holds as sent (one per dedupe key)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await _fetch_or_empty(
            conn,
            "SELECT delivery_id::text AS id FROM notifications.deliveries WHERE status = 'sent'",
        )
    finally:
        await conn.close()
    return {row["id"] for row in rows}


async def _fetch_or_empty(conn: asyncpg.Connection, query: str, *args: Any) -> list[Any]:
    try:
        return list(await conn.fetch(query, *args))
    except asyncpg.UndefinedTableError:  # the service has not migrated yet
        return []


async def dead_letter_ends(bootstrap: str) -> dict[str, int]:
    """The end offset of every dead-letter topic of the registry (0 for one not made yet)."""
    return {row.topic: row.end for row in await dead_letter_topics(bootstrap, REGISTRY)}


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Result:
    plan: Plan
    counts: Counts
    dead_letters: dict[str, int]
    service_kills: int
    recovered_seconds: float | None
    acute_after_last_fault_seconds: float | None
    """how long after the end of the last fault the last acute alert went out (0: before)"""
    paused_at_end: dict[str, Any]
    resent_same_id: int
    """messages the receivers got again under the same delivery id (recognisable repeats)"""
    never_received: int
    """deliveries the log says were sent that no receiver got"""
    not_in_log: int
    """messages the receivers got that the delivery log does not hold as sent"""
    http_retries: int
    """HTTP requests sent again with the same Idempotency-Key"""
    partner_resends: int
    desk_retries: int
    refused: list[str]
    timeline: Timeline
    seconds: float

    @property
    def ok(self) -> bool:
        c = self.counts
        return (
            c.stored == c.accepted
            and c.stored_twice == 0
            and c.triaged == c.stored
            and c.triaged_twice == 0
            and c.pending_notifications == 0
            and self.never_received == 0
            and self.not_in_log == 0
            and not any(self.dead_letters.values())
            and not self.paused_at_end
            and not self.refused
            and c.acute_alerts_sent == c.acute_accepted
            and c.referral.all_once
            and self.acute_after_last_fault_seconds is not None
            and self.acute_after_last_fault_seconds <= self.plan.acute_bound
        )


async def run(plan: Plan) -> Result:
    base_env = dict(os.environ)
    admin_dsn = base_env.get(
        "SIGNAALPUNT_DATABASE_URL",
        "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt",
    )
    bootstrap = base_env.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    database = f"chaos_{int(time.time())}"
    admin = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + "/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{database}"
    sink_env, sinks = notifications_part.start_sinks()
    env = {
        **base_env,
        **environment(),
        **sink_env,
        "SIGNAALPUNT_DATABASE_URL": dsn,
        # quiet hours would hold SMS back and the per-recipient limit would queue messages:
        # both on purpose, and neither what this run measures
        "SIGNAALPUNT_NOTIFICATIONS_QUIET_HOURS_START": _amsterdam_in(hours=6),
        "SIGNAALPUNT_NOTIFICATIONS_QUIET_HOURS_END": _amsterdam_in(hours=7),
        "SIGNAALPUNT_NOTIFICATIONS_RATE_LIMIT": "1000000",
        # one line per state change is the point; INFO would add a line per request
        **{f"SIGNAALPUNT_{n.upper()}_LOG_LEVEL": "WARNING" for n, _, _ in run_all.SERVICES},
    }
    port_base = int(base_env.get("SIGNAALPUNT_CHAOS_PORT_BASE", "18100"))
    services = Services(env, port_base, REPO / ".local" / f"{plan.name}-logs")
    dlq_before = await dead_letter_ends(bootstrap)
    register_dev_partners(env)  # the partner registry is data in this run's fresh database
    for name in services.ports:
        services.start(name)
    load = Load()
    timeline = Timeline()
    try:
        progress(timeline, "services starting")
        await services.healthy()
        timeline = Timeline()
        progress(timeline, "services healthy; load and faults begin")
        stop_kills = asyncio.Event()
        sampler = asyncio.create_task(_sample(dsn, load, timeline))
        loading = asyncio.create_task(offer_load(plan, services, bootstrap, load, timeline))
        killing = asyncio.create_task(kill_services(plan, services, timeline, stop_kills))
        await infra_faults(plan, timeline)
        stop_kills.set()
        kills = await killing
        await loading
        last_fault = max((end for _, end, _ in timeline.faults), default=timeline.now())
        progress(timeline, f"faults over (last ended at {last_fault:.0f} s); waiting for quiet")
        recovered = await _quiet(dsn, load, plan.quiet_timeout)
        recovered_seconds = (timeline.now() - last_fault) if recovered else None
        progress(timeline, f"quiet: {recovered}; checking health and counting")
        checks = await services.healthy(60)
        sampler.cancel()
        counts = await count(dsn, load)
        acute_after = (
            max(0.0, (counts.last_acute_alert_at - timeline.wall(last_fault)).total_seconds())
            if counts.last_acute_alert_at is not None
            else None
        )
        await asyncio.to_thread(notifications_part.wait_quiet, sinks, 3.0, 60.0)
        resent_same_id, never_received, not_in_log = await _receivers(dsn, sinks)
    finally:
        services.stop_all()
        sinks.stop()
    dlq_after = await dead_letter_ends(bootstrap)
    paused = {
        name: check["paused_consumers"]
        for name, check in checks.items()
        if check.get("paused_consumers")
    }
    return Result(
        plan=plan,
        counts=counts,
        dead_letters={
            t: dlq_after[t] - dlq_before.get(t, 0)
            for t in dlq_after
            if dlq_after[t] != dlq_before.get(t, 0)
        },
        service_kills=kills,
        recovered_seconds=recovered_seconds,
        acute_after_last_fault_seconds=acute_after,
        paused_at_end=paused,
        resent_same_id=resent_same_id,
        never_received=never_received,
        not_in_log=not_in_log,
        http_retries=load.http_retries,
        partner_resends=load.partner_resends,
        desk_retries=load.desk_retries,
        refused=load.refused,
        timeline=timeline,
        seconds=timeline.now(),
    )


def _amsterdam_in(*, hours: int) -> str:
    return (datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(hours=hours)).strftime("%H:%M")


async def _sample(dsn: str, load: Load, timeline: Timeline) -> None:
    while True:
        await asyncio.sleep(2)
        with contextlib.suppress(Exception):
            c = await count(dsn, load)
            timeline.samples.append((timeline.now(), c.accepted, c.stored, c.triaged))


async def _quiet(dsn: str, load: Load, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            c = await count(dsn, load)
            if (
                c.stored >= c.accepted
                and c.triaged >= c.stored
                and c.pending_notifications == 0
                and c.acute_alerts_sent >= c.acute_accepted
                and c.referral.ranked >= c.referral.asked
                and c.referral.referred >= c.referral.asked
                and c.referral.match_requested >= c.referral.asked
            ):
                return True
        await asyncio.sleep(2)
    return False


# -- the report ----------------------------------------------------------------------------------


def write_report(result: Result, folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plot = folder / f"{result.plan.name}.png"
    _plot(result.timeline, plot)
    c = result.counts
    r = c.referral
    p = result.plan
    lines = [
        f"# `make chaos`: {'passed' if result.ok else 'FAILED'}",
        "",
        f"{p.signals} signals offered ({p.partner_share:.0%} as partner events over Kafka, the rest"
        f" over HTTP with an Idempotency-Key; {p.acute_share:.0%} acute); PostgreSQL stopped with"
        f" `-m immediate` for {', '.join(f'{d:.0f} s' for d in p.outages) or 'no'} outage(s);"
        f" Kafka killed with -9 {p.broker_kills} time(s); {result.service_kills} services"
        f" SIGKILLed at random. Run took {result.seconds:.0f} s.",
        "",
        "| what | count |",
        "|---|---|",
        f"| accepted (HTTP 202 + partner events sent) | {c.accepted} |",
        f"| stored | {c.stored} |",
        f"| stored twice | {c.stored_twice} |",
        f"| triaged | {c.triaged} |",
        f"| triaged twice | {c.triaged_twice} |",
        f"| notifications sent | {c.notified} |",
        f"| notifications still pending | {c.pending_notifications} |",
        f"| deliveries sent but never received | {result.never_received} |",
        f"| messages received that the log does not hold as sent | {result.not_in_log} |",
        "| messages received again under the same delivery id (recognisable repeat) | "
        f"{result.resent_same_id} |",
        f"| acute signals accepted / alerted | {c.acute_accepted} / {c.acute_alerts_sent} |",
        "| latest acute alert after receipt | "
        + (f"{c.acute_alert_latest_seconds:.0f} s" if c.acute_alert_latest_seconds else "-")
        + " |",
        f"| last acute alert after the end of the last fault (bound {p.acute_bound:.0f} s) | "
        + (
            f"{result.acute_after_last_fault_seconds:.0f} s"
            if result.acute_after_last_fault_seconds is not None
            else "-"
        )
        + " |",
        f"| dead letters | {sum(result.dead_letters.values())} |",
        "| client retries: HTTP with the same Idempotency-Key / partner events with the same id"
        f" / desk steps | {result.http_retries} / {result.partner_resends} /"
        f" {result.desk_retries} |",
        f"| help questions recorded by the desk | {r.asked} |",
        f"| help questions recorded twice in triage | {r.recorded_twice} |",
        f"| ranked once by referral / ranked again | {r.ranked} / {r.ranked_twice} |",
        f"| referred once (one offer sent) / more than once | {r.referred} / {r.referred_twice} |",
        "| one match request in referral and in matching / more than one | "
        f"{r.match_requested} / {r.match_requested_twice} |",
        f"| refused by intake | {len(result.refused)} |",
        "| time to recover after the last fault | "
        + (f"{result.recovered_seconds:.0f} s" if result.recovered_seconds is not None else "never")
        + " |",
        f"| consumers still paused at the end | {len(result.paused_at_end)} |",
        "",
        f"![timeline]({plot.name})",
        "",
        "## Faults",
        "",
        "| from (s) | to (s) | fault | signals offered during it |",
        "|---|---|---|---|",
        *(
            f"| {a:.0f} | {b:.0f} | {what} | {result.timeline.offered_during(a, b)} |"
            for a, b, what in result.timeline.faults
        ),
    ]
    if result.dead_letters:
        lines += [
            "",
            "## Dead letters",
            "",
            *(f"- {t}: {n}" for t, n in result.dead_letters.items()),
        ]
    path = folder / f"{result.plan.name}.md"
    path.write_text("\n".join(lines) + "\n")
    (folder / f"{result.plan.name}.json").write_text(
        json.dumps(
            {
                "ok": result.ok,
                "counts": {
                    k: str(v) if isinstance(v, datetime) else v
                    for k, v in c.__dict__.items()
                    if k != "referral"
                },
                "referral": c.referral.__dict__,
                "http_retries": result.http_retries,
                "partner_resends": result.partner_resends,
                "desk_retries": result.desk_retries,
                "offered_during_faults": [
                    [what, result.timeline.offered_during(a, b)]
                    for a, b, what in result.timeline.faults
                ],
                "dead_letters": result.dead_letters,
                "acute_bound": result.plan.acute_bound,
                "service_kills": result.service_kills,
                "never_received": result.never_received,
                "not_in_log": result.not_in_log,
                "resent_same_id": result.resent_same_id,
                "recovered_seconds": result.recovered_seconds,
                "acute_after_last_fault_seconds": result.acute_after_last_fault_seconds,
                "faults": result.timeline.faults,
                "seconds": result.seconds,
            },
            indent=2,
        )
    )
    return path


def _plot(timeline: Timeline, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for the report

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(11, 4.5))
    if timeline.samples:
        t, accepted, stored, triaged = zip(*timeline.samples, strict=True)
        axes.plot(t, accepted, label="accepted", color="black")
        axes.plot(t, stored, label="stored (intake)", color="tab:blue")
        axes.plot(t, triaged, label="triaged", color="tab:green")
    colours = {"P": "tab:red", "K": "tab:orange"}
    for start, end, what in timeline.faults:
        colour = colours.get(what[0], "tab:grey")
        axes.axvspan(
            start, max(end, start + 0.5), color=colour, alpha=0.25 if what[0] in colours else 0.12
        )
    axes.set_xlabel("seconds")
    axes.set_ylabel("signals")
    axes.set_title("red: PostgreSQL stopped; orange: Kafka killed; grey: a service SIGKILLed")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=Plan.signals)
    parser.add_argument(
        "--outages", default="10,60,200", help="PostgreSQL outages in seconds, comma separated"
    )
    parser.add_argument("--broker-kills", type=int, default=Plan.broker_kills)
    parser.add_argument("--service-kills", type=int, default=Plan.service_kills)
    parser.add_argument("--kill-every", type=float, default=Plan.kill_every)
    parser.add_argument("--rate", type=float, default=Plan.rate)
    parser.add_argument("--help-share", type=float, default=Plan.help_share)
    parser.add_argument("--acute-bound", type=float, default=Plan.acute_bound)
    parser.add_argument("--quiet-timeout", type=float, default=Plan.quiet_timeout)
    parser.add_argument("--name", default=Plan.name)
    args = parser.parse_args()
    plan = Plan(
        signals=args.signals,
        outages=tuple(float(x) for x in args.outages.split(",") if x),
        broker_kills=args.broker_kills,
        service_kills=args.service_kills,
        kill_every=args.kill_every,
        rate=args.rate,
        help_share=args.help_share,
        acute_bound=args.acute_bound,
        quiet_timeout=args.quiet_timeout,
        name=args.name,
    )
    # the GP's system resends after a broker error (counted in the report); aiokafka's own
    # line per attempt would bury the progress lines
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    result = asyncio.run(run(plan))
    path = write_report(result)
    print(path.read_text())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
