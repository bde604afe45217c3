"""The planted-value scan through the whole system, before and after a coordinator's erasure
(issue 17). Every service runs as its own process (as `make run` starts them), and unique values
go in wherever a person's data can: the web form (subject, reporter, concern, Idempotency-Key),
a coordinator's reason for changing the decision, the desk's note, the help question with the
person's words, first name and the contact they agreed to share, the organisation's note when it
accepts the referral; notifications send the reporter's receipt, matching asks a volunteer.

Then every record of every topic on the broker (dead letters included), a `pg_dump` of the
database (every service's schema and the key store), every service's log and every `/metrics`
are searched for the values in plaintext: 0 hits. Sealed values are fine while their key lives;
so the scan also tries to **open** every sealed value linked to the signal with every data key
still in the key store for the ids linked to it: before the erasure that recovers the values
(the check can see them), after it nothing (the keys are destroyed, and no service re-sealed a
value under a key of its own). One module, one run of the services (about a minute).
"""

from __future__ import annotations

import asyncio
import base64
import glob
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from signaalpunt_access.dev_tokens import mint
from signaalpunt_privacy import KeyEncryptionKeys, PostgresSubjectKeyStore
from signaalpunt_privacy.keys import SubjectErasedError, UnknownSubjectError
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_testkit.plugin import Infra

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import run_all  # noqa: E402 - the scripts folder is not a package
from demo_parts import notifications as notifications_part  # noqa: E402
from dev_secrets import AUTH, environment  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TERNEUZEN = "GM0715"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SEALED = re.compile(r"pd1\.[A-Za-z0-9+/=]+")
FIELD_NAME = re.compile(r"[\"']([a-z_]+(?:\.[a-z_]+)+)[\"']")


def _planted() -> dict[str, str]:
    tag = uuid4().hex[:10]
    return {
        "subject_name": f"Plantina Overalvrouw{tag}",
        "address": f"Overalstraat{tag} 12",
        "subject_phone": "06" + "".join(str(int(c, 16) % 10) for c in tag[:8]),
        "concern": f"Zorgwoord{tag} eenzaam sinds de verhuizing",
        "reporter_name": f"Melder Overalbuur{tag}",
        "reporter_phone": "010" + "".join(str(int(c, 16) % 10) for c in tag[2:9]),
        "reporter_email": f"overal{tag}@melder.example",
        "idempotency_key": f"sleutel-{tag}-Plantina",
        "decision_reason": f"Regisseursreden{tag} buurvrouw belde na",
        "desk_note": f"Loketnotitie{tag} mevrouw huilde aan de telefoon",
        "help_text": f"Hulpvraagwoord{tag} zou graag wekelijks koffie drinken",
        "first_name": f"Voornaam{tag}",
        "contact_name": f"Contactnaam{tag}",
        "contact_phone": "0115" + "".join(str(int(c, 16) % 10) for c in tag[3:9]),
        "organisation_note": f"Organisatienotitie{tag} vrijwilliger gaat dinsdag langs",
    }


def _hits(planted: dict[str, str], text: str) -> list[str]:
    """Planted values found, ignoring case and spacing."""
    flat = re.sub(r"\s+", "", text.lower())
    return sorted(n for n, v in planted.items() if re.sub(r"\s+", "", v.lower()) in flat)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _staff(municipality: str, role: str, who: str) -> dict[str, str]:
    token = mint(
        AUTH,
        subject=f"urn:signaalpunt:staff:{who}",
        kind="staff",
        municipalities=[municipality],
        roles=[role],
    )
    return {"Authorization": f"Bearer {token}"}


def _organisation(organisation_id: str, municipality: str) -> dict[str, str]:
    token = mint(
        AUTH,
        subject=f"urn:signaalpunt:organisation:{organisation_id}",
        kind="partner",
        municipalities=[municipality],
        roles=["organisation"],
    )
    return {"Authorization": f"Bearer {token}"}


async def _until(what: str, probe: Any, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        await asyncio.sleep(0.5)


async def _every_record(bootstrap: str) -> list[bytes]:
    """Key, headers and value of every record of every topic on the broker, from the start."""
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        topics = [t for t in await reader.topics() if not t.startswith("__")]
        reader.subscribe(topics)
        records: list[bytes] = []
        quiet = 0
        while quiet < 4:
            batch = await reader.getmany(timeout_ms=500, max_records=5000)
            quiet = 0 if batch else quiet + 1
            for found in batch.values():
                for r in found:
                    headers = b" ".join(k.encode() + b"=" + (v or b"") for k, v in r.headers)
                    records.append(b"\n".join([r.key or b"", headers, r.value or b""]))
        return records
    finally:
        await reader.stop()


def _dump(dsn: str) -> str:
    [pg_dump] = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1:]
    done = subprocess.run(
        [pg_dump, "--no-owner", dsn], check=True, capture_output=True, timeout=300
    )
    return done.stdout.decode(errors="replace")


def _field_names() -> set[str]:
    """Every dotted name in the services' and contracts' sources: the fields values are sealed
    under are among them (a sealed value opens only with its subject's key *and* its field)."""
    names = set()
    for source in [*REPO.glob("services/*/src/**/*.py"), *REPO.glob("contracts/src/**/*.py")]:
        names |= set(FIELD_NAME.findall(source.read_text()))
    for source in REPO.glob("services/*/src/**/*.py"):  # f"volunteer.{name}"
        for prefix in re.findall(r"field=f\"([a-z_.]+)\{", source.read_text()):
            names |= {prefix + n for n in ("first_name", "name", "phone", "email", "address")}
    return names


class Scan:
    """What the scan found, and the records and dump lines that name the signal."""

    def __init__(self, records: list[bytes], dump: str, logs: str, metrics: str) -> None:
        self.records = [r.decode(errors="replace") for r in records]
        self.dump = dump
        self.logs = logs
        self.metrics = metrics

    def plaintext(self, planted: dict[str, str]) -> dict[str, list[str]]:
        return {
            "topics": _hits(planted, "\n".join(self.records)),
            "pg_dump": _hits(planted, self.dump),
            "logs": _hits(planted, self.logs),
            "/metrics": _hits(planted, self.metrics),
        }

    def tables_naming(self, ids: set[str]) -> set[str]:
        """The tables (schema.table) of the dump with a row that names one of these ids."""
        tables, table = set(), ""
        for line in self.dump.splitlines():
            if line.startswith("COPY "):
                table = line.split()[1]
            elif line == "\\.":
                table = ""
            elif table and any(i in line for i in ids):
                tables.add(table)
        return tables

    def linked(self, ids: set[str]) -> Iterator[str]:
        """Every record and dump line that names one of these ids."""
        for text in [*self.records, *self.dump.splitlines()]:
            if any(i in text for i in ids):
                yield text


async def _recoverable(
    scan: Scan, ids: set[str], dsn: str, kek_spec: str, planted: dict[str, str]
) -> dict[str, list[str]]:
    """Planted values that open from a sealed value linked to the signal with a data key still
    in the key store, per subject id whose key opened them."""
    texts = list(scan.linked(ids))
    sealed = {s for text in texts for s in SEALED.findall(text)}
    subjects = {UUID(u) for text in texts for u in UUID_TEXT.findall(text)}
    store = PostgresSubjectKeyStore.with_own_pool(dsn, KeyEncryptionKeys.from_spec(kek_spec))
    await store.open()
    keys: dict[UUID, bytes] = {}
    try:
        for subject in subjects:
            try:
                keys[subject] = await store.existing_data_key(subject)
            except (SubjectErasedError, UnknownSubjectError):
                continue
    finally:
        await store.close()
    fields = _field_names()
    found: dict[str, list[str]] = {}
    for subject, key in keys.items():
        aes = AESGCM(key)
        for value in sealed:
            raw = base64.b64decode(value[4:] + "=" * (-len(value[4:]) % 4))
            for field in fields:
                try:
                    plain = aes.decrypt(raw[:12], raw[12:], subject.bytes + field.encode())
                except (InvalidTag, ValueError):
                    continue
                hits = _hits(planted, plain.decode(errors="replace"))
                if hits:
                    found.setdefault(str(subject), []).extend(hits)
                break
    return {s: sorted(set(v)) for s, v in found.items()}


@pytest.fixture(scope="module")
def system(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every service as its own process on free ports, logs in files, for this module."""
    logs = tmp_path_factory.mktemp("planted-logs")
    ports = {name: _free_port() for name, _, _ in run_all.SERVICES}
    management = {name: _free_port() for name, _, _ in run_all.SERVICES}
    sink_env, sinks = notifications_part.start_sinks()
    extra = {
        **sink_env,
        "SIGNAALPUNT_LOG_LEVEL": "INFO",
        "SIGNAALPUNT_INTAKE_ERASURE_FOUR_EYES": "false",
        "SIGNAALPUNT_METRICS_REFRESH_INTERVAL": "0.5",  # its consumer lag tells the erasure done
        "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "SIGNAALPUNT_DATABASE_URL": infra.database_url,
    }
    procs = run_all.start(extra, ports, management_ports=management, log_dir=logs)
    try:
        yield {
            "urls": {n: f"http://127.0.0.1:{p}" for n, p in ports.items()},
            "management": {n: f"http://127.0.0.1:{p}" for n, p in management.items()},
            "logs": logs,
            "kek": environment()["SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS"],
        }
    finally:
        run_all.stop(procs)
        sinks.stop()


async def _healthy(management: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for name, url in management.items():

            async def ready(url: str = url) -> bool:
                try:
                    answer = await client.get(f"{url}/readyz")
                    consumers = answer.json()["checks"].get("consumers", {})
                    return answer.status_code == 200 and all(consumers.values())
                except (httpx.HTTPError, ValueError, KeyError):
                    return False

            await _until(f"{name} ready", ready, seconds=300)


async def _scan(system: dict[str, Any], infra: Infra) -> Scan:
    records = await _every_record(infra.kafka_bootstrap)
    dump = await asyncio.to_thread(_dump, infra.database_url)
    logs = "\n".join(p.read_text(errors="replace") for p in system["logs"].glob("*.log"))
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = [
            (await client.get(f"{url}/metrics")).text for url in system["management"].values()
        ]
    return Scan(records, dump, logs, "\n".join(metrics))


async def test_planted_values_travel_everywhere_and_are_gone_after_erasure(
    system: dict[str, Any], infra: Infra
) -> None:
    p = _planted()
    urls = system["urls"]
    await _healthy(system["management"])
    coordinator = _staff(TERNEUZEN, "coordinator", "regisseur-overal")
    desk = _staff(TERNEUZEN, "desk", "loket-overal")
    team = _staff(TERNEUZEN, "team", "team-overal")
    form = {
        "channel": "web_form",
        "reporter": {
            "kind": "relative_or_neighbour",
            "name": p["reporter_name"],
            "phone": p["reporter_phone"],
            "email": p["reporter_email"],
            "may_contact": True,
        },
        "subject": {
            "name": p["subject_name"],
            "address": p["address"],
            "phone": p["subject_phone"],
            "birth_year": 1941,
            "postcode": "4531 PX",
        },
        "concern": {"text": p["concern"], "cues": ["lives_alone", "recently_bereaved"]},
    }
    async with httpx.AsyncClient(timeout=30) as http:
        taken = await http.post(
            f"{urls['intake']}/v1/signals",
            json=form,
            headers={"Idempotency-Key": p["idempotency_key"]},
        )
        assert taken.status_code == 202, taken.text
        signal_id = taken.json()["signal_id"]
        triage = f"{urls['triage']}/v1/triage/signals/{signal_id}"

        async def triaged() -> dict[str, Any] | None:
            answer = await http.get(triage, headers=coordinator)
            return answer.json() if answer.status_code == 200 else None

        case = await _until("the rules' decision", triaged)
        changed = await http.post(
            f"{triage}/decisions",
            headers=coordinator,
            json={"route": "team_eenzaamheid", "priority": "high", "reason": p["decision_reason"]},
        )
        assert changed.status_code in (200, 201), changed.text
        called = await http.post(
            f"{triage}/steps",
            headers=desk,
            json={"step": "reporter_contacted", "note": p["desk_note"]},
        )
        assert called.status_code in (200, 201), called.text
        question = {
            "needs": ["buddy", "social_contact"],
            "text": p["help_text"],
            "languages": ["nl"],
            "mobility": "needs_transport",
            "age": 85,
            "near_lat": 51.33,
            "near_lon": 3.83,
            "consent_to_refer": True,
            "first_name": p["first_name"],
            "interests": ["gardening"],
            "availability": ["tue_afternoon"],
            "contact": {"name": p["contact_name"], "phone": p["contact_phone"]},
        }
        recorded = await http.post(
            f"{triage}/steps",
            headers=desk,
            json={"step": "help_question_recorded", "help_question": question},
        )
        assert recorded.status_code in (200, 201), recorded.text

        referral = f"{urls['referral']}/v1/referral"

        async def proposed() -> list[dict[str, Any]] | None:
            answer = await http.get(f"{referral}/signals/{signal_id}", headers=team)
            found = answer.json().get("referrals") if answer.status_code == 200 else None
            return found or None

        best = (await _until("referral's proposals", proposed))[0]
        sent = await http.post(f"{referral}/referrals/{best['referral_id']}/send", headers=team)
        assert sent.status_code == 200, sent.text
        accepted = await http.post(
            f"{referral}/inbox/{best['referral_id']}",
            headers=_organisation(best["organisation_id"], TERNEUZEN),
            json={"status": "accepted", "note": p["organisation_note"]},
        )
        assert accepted.status_code == 200, accepted.text
    await asyncio.sleep(3)  # the outboxes publish, notifications send, matching asks

    before = await _scan(system, infra)
    assert before.plaintext(p) == {"topics": [], "pg_dump": [], "logs": [], "/metrics": []}
    # the values did travel: their sealed copies are linked to the signal in several services
    subject_id = case.get("subject_id")
    ids = {signal_id} | ({subject_id} if subject_id else set())
    ids |= {
        u
        for text in before.linked({signal_id})
        for u in re.findall(r"\"(?:subject_id|reporter_id)\": ?\"([0-9a-f-]{36})\"", text)
    }
    held = before.tables_naming(ids)
    schemas = {table.split(".")[0] for table in held}
    assert {"intake", "triage", "referral", "notifications", "matching"} <= schemas, held
    opened = await _recoverable(before, ids, infra.database_url, system["kek"], p)
    recovered = {name for names in opened.values() for name in names}
    # the check can see them: with the keys alive, every sealed value opens
    assert recovered >= {
        "subject_name",
        "concern",
        "reporter_name",
        "decision_reason",
        "desk_note",
        "help_text",
        "contact_phone",
        "organisation_note",
    }, opened

    async with httpx.AsyncClient(timeout=30) as http:
        erased = await http.post(
            f"{urls['intake']}/v1/erasures",
            headers=coordinator,
            json={
                "municipality": TERNEUZEN,
                "signal_ids": [signal_id],
                "scope": "person",
                "reason": "data_subject_request",
                "confirm_open_acute": True,
            },
        )
        assert erased.status_code == 200, erased.text

        async def gone_everywhere() -> bool:
            views = [
                await http.get(f"{urls['triage']}/v1/triage/signals/{signal_id}", headers=desk),
                await http.get(f"{urls['referral']}/v1/referral/signals/{signal_id}", headers=team),
            ]
            lag = (await http.get(f"{system['management']['metrics']}/metrics")).text
            erasures_behind = [
                float(line.rsplit(" ", 1)[1])
                for line in lag.splitlines()
                if line.startswith("signaalpunt_consumer_lag{") and "signals.erased.v1" in line
            ]
            referral_empty = views[1].status_code == 404 or not views[1].json().get("referrals")
            return views[0].status_code == 404 and referral_empty and sum(erasures_behind) == 0

        await _until("every service handled the erasure", gone_everywhere)
    await asyncio.sleep(2)

    after = await _scan(system, infra)
    print(  # the figures for the record (pytest -s)
        f"before: {len(before.records)} records, {len(before.dump) // 1024} KiB dump, "
        f"{len(list(before.linked(ids)))} linked texts, tables {sorted(held)}, opened {opened}; "
        f"after: {len(list(after.linked(ids)))} linked texts, tables "
        f"{sorted(after.tables_naming(ids))}"
    )
    assert after.plaintext(p) == {"topics": [], "pg_dump": [], "logs": [], "/metrics": []}
    assert await _recoverable(after, ids, infra.database_url, system["kek"], p) == {}
    # the metrics service keeps the counts but nothing that links them to the person (a match
    # ended *because of* the erasure came after it and linked the signal again, 3 runs in 4)
    linked = after.tables_naming(ids) - {"metrics.erased_signals"}  # its tombstone, ids only
    assert not [t for t in linked if t.startswith("metrics.")]
