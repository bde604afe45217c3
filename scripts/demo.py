"""`make demo`: run Signaalpunt on the local infrastructure with a realistic scenario and report.

1. The spine every service stands on, on the real Kafka and PostgreSQL: a sender writes probe
   events through its outbox, the relay publishes them, a receiver handles each exactly once
   through its inbox; a malformed event is parked in the dead-letter topic with its reason.
2. Every service (`scripts/run_all.py`) as its own process on free ports, with a local SMTP
   server, SMS gateway and webhook receiver (scripts/demo_parts/notifications.py):
   - intake: a Monday morning of signals through the web form, the phone desk, the partner
     portal and a GP's system over Kafka, with a retried form, a second report about the same
     person, a postcode outside the consortium and a partner trying another municipality;
   - triage: the rules' decisions with their explanation, the acute alert, a coordinator's edit
     lock, confirmation and override, the desk's first contact and a refused step;
   - referral: the desk sees a help question drafted from the cues and records it, the social
     map's offers are ranked with their reasons, the team sends the best, the organisation
     accepts (scripts/demo_parts/referral.py);
   - matching: the buddy need's volunteer answers through the signed link (demo_parts/matching.py);
   - closing the loop: the match becomes active, the organisation completes the referral and the
     team closes the case with that outcome in triage (close_the_loop in demo_parts/referral.py);
   - notifications: what the receivers got (no addresses);
   - metrics: what the metrics service counted (scripts/demo_parts/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import run_all
from demo_parts import console as console_part
from demo_parts import matching as matching_part
from demo_parts import metrics as metrics_part
from demo_parts import notifications as notifications_part
from demo_parts import referral as referral_part
from dev_secrets import AUTH, PARTNER_JWKS, partner_signing_key
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import (
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    PLATFORM_PROBE,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    AcuteSignalAlertV1,
    Envelope,
    PartnerSignalRejectedV1,
    ProbeV1,
    SignalReceivedV1,
    SignalTriagedV1,
)
from signaalpunt_privacy.partner_encryption import sign_and_encrypt
from signaalpunt_runtime import Service, ServiceSettings, UnitOfWork
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.dead_letters import list_dead_letters
from signaalpunt_runtime.kafka_security import ADMIN
from signaalpunt_runtime.logs import configure_logging

REPO = Path(__file__).resolve().parents[1]
DEMO_LOGS = REPO / ".local" / "demo-logs"  # each service's log, and the spine part's
MIGRATIONS = REPO / "scripts" / "demo_migrations"
PROBES = 1_000
console = Console(width=130)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def settings(name: str) -> ServiceSettings:
    # the platform probe is a tool, not a service of the registry: the local admin principal
    return ServiceSettings(
        service_name=name,
        database_schema=name.replace("-", "_"),
        log_level="WARNING",
        kafka_username=ADMIN,
    )


async def scenario() -> dict[str, object]:
    run_id = f"demo-{int(time.time())}"
    sender = Service(settings("demo-sender"), title="demo sender", migrations=MIGRATIONS)
    receiver = Service(settings("probe-receiver"), title="probe receiver", migrations=MIGRATIONS)
    # the in-process services' own log lines go to a file, as the services' do: the terminal
    # shows the story only
    DEMO_LOGS.mkdir(parents=True, exist_ok=True)
    log_file = (DEMO_LOGS / "spine.log").open("a")
    configure_logging("demo", stream=log_file)

    @receiver.consumer(PLATFORM_PROBE, group="probe-receiver")
    async def receive(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        await work.connection.execute(
            "INSERT INTO probes_received (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            event.data.run_id,
            event.data.sequence,
        )

    for service in (sender, receiver):
        await service.start_database()
        await service.broker.start()
        await service.start_relay()
    started = time.perf_counter()
    try:
        # as an HTTP request would: the state change and its events in one transaction
        for start in range(0, PROBES, 100):
            async with sender.transaction() as work:
                for i in range(start, start + 100):
                    event = work.new_event(
                        ProbeV1(run_id=run_id, sequence=i, note="make demo"), municipality="GM0715"
                    )
                    await work.publish(PLATFORM_PROBE, event, key=run_id)
        # and one partner system that sends something that is not an event at all
        producer = make_producer(sender.settings.kafka_bootstrap, client_id="demo-partner")
        await producer.start()
        await producer.send_and_wait(
            PLATFORM_PROBE.name, b'{"melding": "buurvrouw belt niet meer"', key=run_id.encode()
        )
        await producer.stop()

        conn = await asyncpg.connect(sender.settings.database_url.get_secret_value())
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                received = await conn.fetchval(
                    "SELECT count(*) FROM probe_receiver.probes_received WHERE run_id = $1", run_id
                )
                if received >= PROBES:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT event_id) FROM probe_receiver.probes_received"
                " WHERE run_id = $1",
                run_id,
            )
            published = await conn.fetchval(
                "SELECT count(*) FROM demo_sender.outbox WHERE key = $1"
                " AND published_at IS NOT NULL",
                run_id,
            )
        finally:
            await conn.close()
        await asyncio.sleep(1)
        letters = await list_dead_letters(
            sender.settings.kafka_bootstrap, PLATFORM_PROBE.dead_letter_topic("probe-receiver")
        )
    finally:
        for service in (receiver, sender):
            await service.stop_relay()
            await service.broker.stop()
            await service.stop_database()
    return {
        "run_id": run_id,
        "written": PROBES,
        "published": published,
        "received": received,
        "distinct": distinct,
        "seconds": elapsed,
        "dead_letters": letters,
    }


SCENARIO_NAMES = ("Mevrouw W. de Vries", "Jeroen Bakker", "meneer Hamid Yilmaz", "Kees Dekker")


Step = tuple[str, dict[str, Any], dict[str, str]]
"""What happened, the request's body, its headers (a token, an Idempotency-Key)."""


def _token(**claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint(AUTH, **claims)}


def monday_morning() -> list[Step]:
    """The signals of a Monday morning at the signal point: who reports whom, through which
    channel, with which token."""
    desk = _token(
        subject="urn:signaalpunt:staff:loket-terneuzen",
        kind="staff",
        municipalities=["GM0715", "GM0677"],
        roles=["desk"],
    )
    jumbo = _token(
        subject="urn:signaalpunt:partner:jumbo-terneuzen",
        kind="partner",
        municipalities=["GM0715"],
        channels=["partner_portal"],
        partner_type="supermarkt",
    )
    gp = _token(
        subject="urn:signaalpunt:partner:huisartsen-terneuzen-noord",
        kind="partner",
        municipalities=["GM0715"],
        channels=["partner_portal"],
        partner_type="huisarts",
    )
    vries = {
        "name": SCENARIO_NAMES[0],
        "birth_year": 1944,
        "postcode": "4531 GH",
        "address": "Noordstraat 12",
        "languages": ["nl"],
        "knows_of_signal": False,
    }
    return [
        (
            "web form: a neighbour about an 80-year-old who lives alone",
            {
                "channel": "web_form",
                "reporter": {
                    "kind": "relative_or_neighbour",
                    "phone": "06-11122233",
                    "may_contact": True,
                },
                "subject": vries,
                "concern": {
                    "text": "Sinds haar man overleed zie ik haar nooit meer buiten.",
                    "cues": ["lives_alone", "recently_bereaved", "no_visitors"],
                },
            },
            {"Idempotency-Key": f"web-{time.time_ns()}"},
        ),
        (
            "phone desk: a worried mother about her son in Hulst",
            {
                "channel": "phone",
                "reporter": {
                    "kind": "relative_or_neighbour",
                    "phone": "0114-123456",
                    "may_contact": True,
                    "wants_feedback": True,
                },
                "subject": {"name": SCENARIO_NAMES[1], "birth_year": 2004, "postcode": "4561 AA"},
                "concern": {
                    "text": "Hij zegt dat het voor hem niet meer hoeft.",
                    "cues": ["wish_to_die"],
                },
                "reported_urgency": "acute",
            },
            desk,
        ),
        (
            "partner portal: a Jumbo cashier at the klets-kassa",
            {
                "channel": "partner_portal",
                "reporter": {"kind": "business", "organisation": "Jumbo Terneuzen"},
                "subject": {
                    "name": SCENARIO_NAMES[2],
                    "age_band": "75_plus",
                    "postcode": "4533 AB",
                },
                "concern": {"cues": ["lives_alone", "language_barrier"]},
            },
            jumbo,
        ),
        (
            "partner portal: the GP about the same 80-year-old",
            {
                "channel": "partner_portal",
                "reporter": {"kind": "professional", "organisation": "Huisartsen Terneuzen-Noord"},
                "subject": {**vries, "name": "MEVROUW W. DE  VRIES"},
                "concern": {"cues": ["recently_bereaved", "neglects_self"]},
            },
            gp,
        ),
        (
            "phone desk: a welfare worker about a man in a wheelchair",
            {
                "channel": "phone",
                "reporter": {"kind": "professional", "organisation": "Welzijn Terneuzen"},
                "subject": {"name": SCENARIO_NAMES[3], "birth_year": 1958, "postcode": "4535 CD"},
                "concern": {
                    "text": "Meneer heeft geen doodswens, maar is wel erg eenzaam sinds hij in "
                    "een rolstoel zit.",
                },
            },
            desk,
        ),
        (
            "web form: a complaint about the neighbours' noise",
            {
                "channel": "web_form",
                "reporter": {"kind": "relative_or_neighbour"},
                "subject": {"postcode": "4532 EF"},
                "concern": {"text": "Elke nacht geluidsoverlast van de buren."},
            },
            {},
        ),
        (
            "web form: someone from Amsterdam",
            {
                "channel": "web_form",
                "reporter": {"kind": "self"},
                "subject": {"postcode": "1012 AB", "birth_year": 1990},
                "concern": {"cues": ["lives_alone"]},
            },
            {},
        ),
        (
            "partner portal: Jumbo Terneuzen for Middelburg (not its municipality)",
            {
                "channel": "partner_portal",
                "reporter": {"kind": "business", "organisation": "Jumbo Terneuzen"},
                "subject": {"postcode": "4331 AA", "age_band": "75_plus"},
                "concern": {"cues": ["no_visitors"]},
            },
            jumbo,
        ),
    ]


async def intake_scenario(intake_url: str, bootstrap: str) -> dict[str, object]:
    """A Monday morning at the signal point, through the running intake service's HTTP API."""
    steps = monday_morning()
    outcomes: list[tuple[str, int, str]] = []
    accepted: list[str] = []
    receipts: dict[str, tuple[str, str]] = {}
    async with httpx.AsyncClient(base_url=intake_url, timeout=30) as client:
        for title, body, headers in steps:
            answer = await client.post("/v1/signals", json=body, headers=headers)
            data = answer.json()
            if answer.status_code == 202:
                accepted.append(data["signal_id"])
                receipts[data["signal_id"]] = (data["status_url"], data["receipt_token"])
                outcomes.append((title, 202, f"received, case {data['signal_id'][-8:].upper()}"))
            else:
                outcomes.append((title, answer.status_code, data.get("detail", "")[:90]))
            if "Idempotency-Key" in headers:  # the browser retries after a time-out
                retry = await client.post("/v1/signals", json=body, headers=headers)
                same = retry.json().get("signal_id") == data.get("signal_id")
                outcomes.append(
                    (
                        "  … the same form sent again (Idempotency-Key)",
                        retry.status_code,
                        "same answer, no second signal" if same else "DIFFERENT answer",
                    )
                )
    # a GP's own system reports over Kafka (a CloudEvent), and one report it gets wrong
    partner_ids = [
        await _send_partner_event(bootstrap, "4534 AB", SCENARIO_NAMES[0]),
        await _send_partner_event(bootstrap, "1012 AB", None),
    ]
    partner_refs = {f"{GP}#{partner_ids[0]}"}
    events = await _read_signals(bootstrap, set(accepted), partner_refs)
    rejection = await _read_rejection(bootstrap, partner_ids[1])
    outcomes.append(
        (
            "GP system over Kafka (CloudEvent): a patient in Terneuzen",
            0,
            "received" if len(events) == len(accepted) + 1 else "NOT received",
        )
    )
    outcomes.append(
        (
            "GP system over Kafka (CloudEvent): a postcode in Amsterdam",
            0,
            f"refused, told on partner.signals.rejections.v1: {rejection}",
        )
    )
    return {"outcomes": outcomes, "events": events, "receipts": receipts}


GP = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"


async def _send_partner_event(bootstrap: str, postcode: str, name: str | None) -> str:
    event_id = f"his-{time.time_ns()}"
    data = {
        "reporter": {"kind": "professional", "organisation": "Huisartsen Terneuzen-Noord"},
        "subject": {"name": name, "birth_year": 1944, "postcode": postcode},
        "concern": {"cues": ["recently_bereaved"]},
    }
    producer = make_producer(bootstrap, client_id="demo-gp-system")
    await producer.start()
    try:
        # the GP's system signs with its own key (registered in the partner registry) and
        # encrypts to intake's published key: the topic holds ciphertext only
        jwks = json.loads(PARTNER_JWKS.read_text())
        await producer.send_and_wait(
            PARTNER_SIGNALS.name,
            value=sign_and_encrypt(json.dumps(data).encode(), partner_signing_key(GP), jwks),
            key=GP.encode(),
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_source", GP.encode()),
                ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
                ("content-type", b"application/jose"),
            ],
        )
    finally:
        await producer.stop()
    return event_id


async def _read_signals(bootstrap: str, wanted: set[str], references: set[str]) -> dict[str, bytes]:
    """This run's events: by signal id (HTTP) or by the partner's reference (Kafka)."""
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        reader.subscribe([SIGNALS_RECEIVED.name])
        found: dict[str, bytes] = {}
        seen_refs: set[str] = set()
        deadline = time.monotonic() + 60
        while (
            not wanted <= found.keys() or references - seen_refs
        ) and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                for record in records:
                    key = (record.key or b"").decode()
                    event = Envelope[SignalReceivedV1].model_validate_json(record.value or b"")
                    if key in wanted or event.data.partner_reference in references:
                        found[key] = record.value or b""
                        seen_refs.add(event.data.partner_reference or "")
        return found
    finally:
        await reader.stop()


async def _read_rejection(bootstrap: str, event_id: str) -> str:
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        reader.subscribe([PARTNER_REJECTIONS.name])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                for record in records:
                    rejection = Envelope[PartnerSignalRejectedV1].model_validate_json(
                        record.value or b""
                    )
                    if rejection.data.partner_event_id == event_id:
                        return f"{rejection.data.reason} ({rejection.data.detail})"
        return "no rejection seen"
    finally:
        await reader.stop()


def _duplicate(earlier: object, this_run: set[str]) -> str:
    if earlier is None:
        return ""
    if str(earlier) in this_run:
        return f"case {str(earlier)[-8:].upper()} (this morning)"
    return f"case {str(earlier)[-8:].upper()} (an earlier demo run)"


def print_intake(result: dict[str, object]) -> None:
    outcomes = result["outcomes"]
    events = result["events"]
    assert isinstance(outcomes, list)
    assert isinstance(events, dict)
    table = Table(title="Intake: a Monday morning at the signal point")
    for column in ("what happened", "via", "answer"):
        table.add_column(column, overflow="fold")
    for title, status, answer in outcomes:
        table.add_row(title, str(status) if status else "Kafka", answer)
    console.print(table)
    signals = [Envelope[SignalReceivedV1].model_validate_json(v) for v in events.values()]
    summary = Table(title=f"signals.received.v1: {len(signals)} canonical signals")
    for column in (
        "channel",
        "municipality",
        "reporter",
        "age band",
        "cues",
        "urgency",
        "possible duplicate of",
    ):
        summary.add_column(column, overflow="fold")
    for e in sorted(signals, key=lambda e: e.data.received_at):
        summary.add_row(
            e.data.channel,
            e.municipality,
            e.data.reporter.kind,
            e.data.subject.age_band or "",
            ", ".join(e.data.concern.cues),
            e.data.reported_urgency,
            _duplicate(e.data.possible_duplicate_of, set(events)),
        )
    console.print(summary)
    raw = b"".join(events.values())
    readable = [n for n in SCENARIO_NAMES if n.encode() in raw]
    console.print(
        f"names readable in those events: {len(readable)} of {len(SCENARIO_NAMES)} "
        "(every personal value is sealed with the person's own data key)"
    )


async def wait_for_health(urls: dict[str, str], seconds: float = 300) -> None:
    """Every service answers /readyz (on its management port, `urls`) with 200 and each of its
    consumers holds partitions (its group has settled), so no event waits for a rebalance."""
    deadline = time.monotonic() + seconds
    # a bar while they start (half a minute to minutes on a fresh machine): the story only
    # begins once every service is ready
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress as bar:
        async with httpx.AsyncClient(timeout=2) as client:
            task = bar.add_task("Waiting for the services to be ready", total=len(urls))
            for name, url in urls.items():
                bar.update(task, description=f"Waiting for {name} to be ready")
                while not (await run_all.readiness(client, url))[0]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not become healthy; see .local/demo-logs/")
                    await asyncio.sleep(0.5)
                bar.advance(task)
    console.print(f"[bold]Ready[/bold]: {', '.join(urls)}")


async def _read_topic(
    bootstrap: str, topic: str, done: Any, ids: set[str], seconds: float = 60
) -> list[bytes]:
    """The topic's events that name one of the signals `ids`, read from its start until
    `done(values)`. Only those are kept and decoded: after a benchmark the topic holds hundreds
    of thousands of events, and decoding all of them on every poll outlasted the wait."""
    wanted = [i.encode() for i in ids]
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        reader.subscribe([topic])
        values: list[bytes] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                values += [
                    r.value for r in records if r.value and any(w in r.value for w in wanted)
                ]
            if done(values):
                break
        return values
    finally:
        await reader.stop()


async def decisions_for(bootstrap: str, ids: set[str], count: int = 1) -> list[SignalTriagedV1]:
    def mine(values: list[bytes]) -> list[SignalTriagedV1]:
        events = [Envelope[SignalTriagedV1].model_validate_json(v).data for v in values]
        return [e for e in events if str(e.signal_id) in ids]

    def done(values: list[bytes]) -> bool:
        per_signal = Counter(str(d.signal_id) for d in mine(values))
        return all(per_signal[i] >= count for i in ids)

    return mine(await _read_topic(bootstrap, SIGNALS_TRIAGED.name, done, ids))


async def triage_scenario(triage_url: str, bootstrap: str, ids: set[str]) -> dict[str, Any]:
    """The rules' decisions for this morning's signals, then the coordinators and the desk."""
    first = {str(d.signal_id): d for d in await decisions_for(bootstrap, ids) if d.decision == 1}
    alerts = [
        Envelope[AcuteSignalAlertV1].model_validate_json(v).data
        for v in await _read_topic(
            bootstrap,
            SIGNALS_ACUTE_ALERTS.name,
            lambda vs: any(
                str(Envelope[AcuteSignalAlertV1].model_validate_json(v).data.signal_id) in ids
                for v in vs
            ),
            ids,
            seconds=20,
        )
    ]
    alerts = [a for a in alerts if str(a.signal_id) in ids]

    def staff(subject: str, municipality: str, role: str) -> dict[str, str]:
        token = mint(
            AUTH, subject=subject, kind="staff", municipalities=[municipality], roles=[role]
        )
        return {"Authorization": f"Bearer {token}"}

    actions: list[tuple[str, int, str]] = []
    changed: set[str] = set()
    async with httpx.AsyncClient(base_url=triage_url, timeout=30) as client:
        hulst = staff("staff:regisseur-hulst", "GM0677", "coordinator")
        terneuzen = staff("staff:regisseur-terneuzen", "GM0715", "coordinator")
        desk = staff("staff:loket-hulst", "GM0677", "desk")
        for municipality, headers in (("GM0677", hulst), ("GM0715", terneuzen)):
            queue = await client.get("/v1/triage/queue?needs_review=true", headers=headers)
            items = queue.json()["items"]
            actions.append(
                (
                    f"regisseur {municipality} opens the review queue",
                    queue.status_code,
                    f"{len(items)} to review, first: {items[0]['route'] if items else '-'}",
                )
            )
        for d in first.values():
            if d.route.value == "acuut":
                path = f"/v1/triage/signals/{d.signal_id}"
                lock = await client.post(f"{path}/lock", headers=hulst)
                actions.append(("regisseur Hulst takes the edit lock", lock.status_code, ""))
                other = await client.post(
                    f"{path}/lock", headers=staff("staff:regisseur-2", "GM0677", "coordinator")
                )
                actions.append(
                    ("a second regisseur tries the same signal", other.status_code, "in use")
                )
                confirm = await client.post(f"{path}/decisions", headers=hulst, json={})
                actions.append(("regisseur confirms: acute", confirm.status_code, ""))
                await client.delete(f"{path}/lock", headers=hulst)
                called = await client.post(
                    f"{path}/steps", headers=desk, json={"step": "reporter_contacted"}
                )
                actions.append(
                    (
                        "the desk called the mother back (first contact)",
                        called.status_code,
                        called.json().get("state", ""),
                    )
                )
                closing = await client.post(
                    f"{path}/steps",
                    headers=desk,
                    json={"step": "closed", "close_reason": "support_arranged"},
                )
                actions.append(
                    (
                        "the desk tries to close the acute case",
                        closing.status_code,
                        closing.json().get("detail", "")[:70],
                    )
                )
            elif d.route.value == "buiten_bereik" and d.explanation:
                path = f"/v1/triage/signals/{d.signal_id}/steps"
                closed = await client.post(
                    path, headers=terneuzen, json={"step": "closed", "close_reason": "out_of_scope"}
                )
                actions.append(
                    ("regisseur Terneuzen closes the noise complaint", closed.status_code, "")
                )
            elif d.route.value == "team_welzijn" and d.channel.value == "partner_portal":
                override = await client.post(
                    f"/v1/triage/signals/{d.signal_id}/decisions",
                    headers=terneuzen,
                    json={
                        "route": "team_eenzaamheid",
                        "priority": "high",
                        "reason": "Kassamedewerker belde na: mevrouw spreekt niemand meer.",
                    },
                )
                changed.add(str(d.signal_id))
                actions.append(
                    (
                        "regisseur Terneuzen moves the Jumbo signal to team eenzaamheid",
                        override.status_code,
                        f"decision {override.json().get('decision')}",
                    )
                )
    later = await decisions_for(bootstrap, changed, count=2) if changed else []
    return {"first": first, "alerts": alerts, "actions": actions, "later": later}


def print_triage(result: dict[str, Any]) -> None:
    first: dict[str, SignalTriagedV1] = result["first"]
    table = Table(title=f"Triage: {len(first)} decisions on signals.triaged.v1 (by the rules)")
    for column in (
        "signal",
        "route",
        "priority",
        "risk groups",
        "review",
        "why",
        "first contact by",
    ):
        table.add_column(column, overflow="fold")
    for d in sorted(first.values(), key=lambda d: d.received_at):
        table.add_row(
            str(d.signal_id)[-8:].upper(),
            d.route.value,
            d.priority.value,
            ", ".join(g.value for g in d.risk_groups),
            "yes" if d.needs_review else "",
            ", ".join(f.rule for f in d.explanation) or "-",
            ", ".join(sorted({m for f in d.explanation for m in f.matched})),
            f"{d.first_contact_due.astimezone(AMSTERDAM):%a %d %b %H:%M}",
        )
    console.print(table)
    for alert in result["alerts"]:
        console.print(
            f"[red]acute alert[/red] for case {str(alert.signal_id)[-8:].upper()}: "
            f"{', '.join(alert.matched)}; advice: {', '.join(a.value for a in alert.advice)}"
        )
    actions = Table(title="Coordinators and the desk (triage API)")
    for column in ("what happened", "HTTP", "answer"):
        actions.add_column(column, overflow="fold")
    for title, status, answer in result["actions"]:
        actions.add_row(title, str(status), answer)
    console.print(actions)
    for d in result["later"]:
        if d.decision > 1:
            console.print(
                f"case {str(d.signal_id)[-8:].upper()} decision {d.decision} by "
                f"{d.decided_by.value} ({d.decided_by_staff}): {d.route.value}, "
                f"{d.priority.value}; reason sealed"
            )


async def print_status_pages(
    intake_url: str, intake: dict[str, Any], triage: dict[str, Any]
) -> None:
    """What reporters see on their status page (receipt token), once intake has followed the
    case steps: only received / being handled / handled."""
    receipts: dict[str, tuple[str, str]] = intake["receipts"]
    first: dict[str, SignalTriagedV1] = triage["first"]
    table = Table(title="The reporters' status pages (GET /v1/signals/{id}/status)")
    for column in ("signal", "route", "the reporter sees"):
        table.add_column(column)
    async with httpx.AsyncClient(base_url=intake_url, timeout=10) as client:
        await asyncio.sleep(2)  # intake follows cases.steps.v1 asynchronously
        for signal_id, (url, token) in receipts.items():
            answer = await client.get(url, headers={"Receipt-Token": token})
            route = first[signal_id].route.value if signal_id in first else "?"
            table.add_row(signal_id[-8:].upper(), route, answer.json().get("status", "?"))
    console.print(table)


async def system_scenario() -> dict[str, Any]:
    """Every service as its own process on free ports (logs in .local/demo-logs/), then the
    morning's signals through intake and what the other services make of them."""
    ports = {name: _free_port() for name, _, _ in run_all.SERVICES}
    management_ports = {name: _free_port() for name, _, _ in run_all.SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    management = {name: f"http://127.0.0.1:{port}" for name, port in management_ports.items()}
    extra = {
        # everything in the demo comes from one address: lift the web form's per-address limit
        "SIGNAALPUNT_INTAKE_WEB_FORM_LIMIT": "100000",
        "SIGNAALPUNT_LOG_LEVEL": "INFO",
        "SIGNAALPUNT_TRIAGE_DEADLINE_CHECK_INTERVAL": "5",
        # the story reads the figures right after the morning: no wait for a scrape interval
        "SIGNAALPUNT_METRICS_REFRESH_INTERVAL": "2",
        # the volunteers' answer links point at the demo's own port
        "SIGNAALPUNT_MATCHING_PUBLIC_URL": urls["matching"],
    }
    # an SMTP server, an SMS gateway and partners' webhook endpoints of our own
    sink_env, sinks = notifications_part.start_sinks()
    console.print(
        "[bold]Starting the services[/bold] as separate processes: "
        + ", ".join(f"{n} ({u})" for n, u in urls.items())
    )
    procs = run_all.start(
        {**extra, **sink_env},
        ports,
        management_ports=management_ports,
        log_dir=DEMO_LOGS,
    )
    console_port, idp_port = _free_port(), _free_port()
    procs += run_all.start_console(
        urls,
        port=console_port,
        console_management_port=_free_port(),
        idp_port=idp_port,
        log_dir=DEMO_LOGS,
    )
    bootstrap = ServiceSettings(service_name="demo").kafka_bootstrap
    try:
        await wait_for_health(management)
        intake = await intake_scenario(urls["intake"], bootstrap)
        events = intake["events"]
        assert isinstance(events, dict)
        triage = await triage_scenario(urls["triage"], bootstrap, set(events))
        web_form = [
            d
            for d in triage["first"].values()
            if d.channel.value == "web_form"
            and d.route.value in {"team_welzijn", "team_eenzaamheid"}
        ]
        referral = (
            await referral_part.scenario(
                urls["triage"], urls["referral"], str(web_form[0].signal_id)
            )
            if web_form
            else {"final": "no web-form signal for team welzijn or eenzaamheid"}
        )
        matching = (
            await matching_part.scenario(
                urls["matching"], bootstrap, str(web_form[0].signal_id), urls["referral"]
            )
            if web_form
            else {"final": "no web-form signal", "actions": [], "reasons": []}
        )
        closing = (
            await referral_part.close_the_loop(
                urls["triage"], urls["referral"], urls["matching"], referral, matching
            )
            if web_form
            else {"final": "no web-form signal", "actions": []}
        )
        print_intake(intake)
        print_triage(triage)
        if web_form:
            referral_part.report(referral, console)
            matching_part.report(matching, console)
            referral_part.report_closing(closing, console)
        await print_status_pages(urls["intake"], intake, triage)
        console.print()
        staff_console = await console_part.scenario(
            f"http://127.0.0.1:{console_port}", f"http://127.0.0.1:{idp_port}"
        )
        console_part.report(staff_console, console, f"http://127.0.0.1:{run_all.CONSOLE_PORT}")
        console.print()
        await asyncio.to_thread(notifications_part.wait_quiet, sinks)
        messages = notifications_part.report(sinks, console)
        console.print()
        figures = await metrics_part.report(console, base_url=management["metrics"])
        return {
            "intake": intake,
            **triage,
            "referral": referral,
            "matching": matching,
            "closing": closing,
            "notifications": messages,
            "metrics": figures,
            "console": staff_console,
        }
    finally:
        run_all.stop(procs)
        sinks.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    console.rule("[bold]Signaalpunt demo")
    console.print("\n[bold]Infrastructure[/bold] (deploy/local, no Docker)")
    subprocess.run([str(REPO / "deploy/local/infra.sh"), "status"], check=True)  # noqa: S603
    console.print(
        "\n[bold]The spine[/bold]: outbox → Kafka → inbox, exactly once, on platform.probe.v1"
    )
    result = asyncio.run(scenario())
    table = Table(show_header=False)
    table.add_row("probe events written through the sender's outbox", str(result["written"]))
    table.add_row("published by the outbox relay (acks=all, idempotent)", str(result["published"]))
    table.add_row("handled by the receiver (inbox, one transaction each)", str(result["received"]))
    table.add_row("… of which distinct events (no double effects)", str(result["distinct"]))
    table.add_row("time from first write to last handled", f"{result['seconds']:.1f} s")
    console.print(table)
    letters = result["dead_letters"]
    assert isinstance(letters, list)
    console.print(
        f"\n[bold]Dead letters[/bold] in {PLATFORM_PROBE.dead_letter_topic('probe-receiver')}: "
        f"{len(letters)} in total (this run added the malformed partner event)"
    )
    for letter in letters[-3:]:
        console.print(f"  offset {letter.offset}: {letter.error}")
    console.print(
        "  replay after a fix: [cyan]uv run signaalpunt-dlq replay "
        f"{PLATFORM_PROBE.dead_letter_topic('probe-receiver')}[/cyan]"
    )
    console.print()
    triage = asyncio.run(system_scenario())
    intake = triage["intake"]
    events = intake["events"]
    assert isinstance(events, dict)
    ok = (
        result["received"] == result["written"] == result["distinct"]
        and len(events) == 7
        and len(triage["first"]) == len(events)
        and len(triage["alerts"]) == 1
        and triage["referral"]["final"] == "accepted"
        and triage["matching"]["final"] == "accepted"
        and triage["closing"]["final"] == "case closed: support_arranged"
        and triage["notifications"]["distinct"] > 0
        and triage["notifications"]["duplicates"] == 0
        and sum(triage["metrics"]["received"].values()) >= len(events)
    )
    console.print("\n[green]demo finished[/green]" if ok else "\n[red]demo incomplete[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
