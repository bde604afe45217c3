"""The planted-value scan as a test (issue 17): unique values in every personal field, through
every intake channel (web form with an Idempotency-Key, the desk by phone, the partner portal, an
encrypted partner event) and a refused request; then every topic this module made (including
dead-letter and partner topics), a `pg_dump` of the whole database (every schema: intake's rows,
the access log, the key store, the outbox), every log line and `/metrics` are searched for each
value in plaintext. Nothing may be found: sealed values open only for an authorised reader.

Intake only: the other services get the values sealed (they are found nowhere here either, in
the events they would read); their own rows are scanned by their own tests
(`test_*_tenancy`, `test_*_access_log`, the erasure tests).
"""

from __future__ import annotations

import asyncio
import glob
import json
import re
import subprocess
from typing import Any
from uuid import uuid4

import pytest
from intake_harness import RunningIntake
from signaalpunt_runtime.broker_factory import make_reader
from signaalpunt_testkit.logs import collected_logs
from signaalpunt_testkit.plugin import TopicFactory
from test_http_channels import web_form
from test_partner_channel import GP, report, send, signals_from

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


def _planted() -> dict[str, str]:
    tag = uuid4().hex[:10]
    return {
        "subject_name": f"Plantina Scanvrouw{tag}",
        "address": f"Scanstraat{tag} 12",
        "subject_phone": f"06{tag[:8]}".replace("a", "1").replace("b", "2"),
        "text": f"Zorgwoord{tag} eenzaam sinds de verhuizing",
        "reporter_name": f"Melder Scanbuur{tag}",
        "reporter_phone": f"010{tag[:7]}".replace("c", "3").replace("d", "4"),
        "reporter_email": f"scan{tag}@melder.example",
        "organisation": f"Praktijk Scanarts{tag}",
        "idempotency_key": f"sleutel-{tag}-met-naam-Plantina",
        "partner_name": f"Partnerina Scanpartner{tag}",
        "partner_text": f"Partnerzorg{tag} komt niet meer buiten",
        "refused_name": f"Geweigerde Scannaam{tag}",
    }


def _form(p: dict[str, str]) -> dict[str, Any]:
    body = web_form()
    body["reporter"] = {
        "kind": "relative_or_neighbour",
        "name": p["reporter_name"],
        "phone": p["reporter_phone"],
        "email": p["reporter_email"],
        "may_contact": True,
    }
    body["subject"] = {
        **body["subject"],
        "name": p["subject_name"],
        "address": p["address"],
        "phone": p["subject_phone"],
    }
    body["concern"] = {"text": p["text"], "cues": ["lives_alone"]}
    return body


async def _every_record(bootstrap: str, topics: list[str]) -> bytes:
    """Every record's key, headers and value on these topics, from the start."""
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        existing = await reader.topics()
        wanted = [t for t in topics if t in existing]
        reader.subscribe(wanted)
        raw: list[bytes] = []
        quiet = 0
        while quiet < 4:
            batch = await reader.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for r in records:
                    raw += [r.key or b"", r.value or b""]
                    raw += [k.encode() + b"=" + (v or b"") for k, v in r.headers]
        return b"\n".join(raw)
    finally:
        await reader.stop()


def _dump(dsn: str) -> bytes:
    [pg_dump] = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1:]
    return subprocess.run(
        [pg_dump, "--no-owner", dsn], check=True, capture_output=True, timeout=120
    ).stdout


def _hits(planted: dict[str, str], text: str) -> list[str]:
    """Planted values found, ignoring case and the spacing a normaliser might change."""
    flat = re.sub(r"\s+", "", text.lower())
    return [name for name, value in planted.items() if re.sub(r"\s+", "", value.lower()) in flat]


async def test_no_planted_value_is_readable_anywhere(
    intake: RunningIntake, kafka_topics: TopicFactory
) -> None:
    p = _planted()
    with collected_logs() as lines:
        by_form = await intake.client.post(
            "/v1/signals", json=_form(p), headers={"Idempotency-Key": p["idempotency_key"]}
        )
        assert by_form.status_code == 202, by_form.text
        again = await intake.client.post(
            "/v1/signals", json=_form(p), headers={"Idempotency-Key": p["idempotency_key"]}
        )
        assert again.json()["signal_id"] == by_form.json()["signal_id"]
        desk = await intake.client.post(
            "/v1/signals", json={**_form(p), "channel": "phone"}, headers=intake.token()
        )
        assert desk.status_code == 202, desk.text
        portal = web_form(
            channel="partner_portal",
            reporter={"kind": "professional", "organisation": p["organisation"]},
        )
        portal["subject"] = {**portal["subject"], "name": p["subject_name"]}
        by_portal = await intake.client.post(
            "/v1/signals",
            json=portal,
            headers=intake.token(
                kind="partner",
                roles=(),
                channels=("partner_portal",),
                partner_type="huisarts",
                subject="urn:signaalpunt:partner:huisarts-scan",
            ),
        )
        assert by_portal.status_code == 202, by_portal.text
        event = report(
            subject={"name": p["partner_name"], "birth_year": 1936, "postcode": "4532 AB"},
            concern={"text": p["partner_text"], "cues": ["lives_alone"]},
        )
        event_id = await send(intake, event)
        assert await signals_from(intake, f"{GP}#{event_id}")
        refused = web_form(subject={"name": p["refused_name"], "postcode": "1012 AB"})
        answer = await intake.client.post("/v1/signals", json=refused)
        assert answer.status_code == 422
        assert _hits(p, answer.text) == [], "a refusal echoed a value"
        await asyncio.sleep(1.5)  # the outbox relay publishes and logs
        metrics = (await intake.management.get("/metrics")).text

    topics = await _every_record(intake.infra.kafka_bootstrap, list(kafka_topics.created))
    assert intake.received.name in kafka_topics.created
    assert p["subject_name"].encode() not in topics  # the topics carry the events at all:
    assert by_form.json()["signal_id"].encode() in topics  # (the scan saw the signal's event)
    dump = (await asyncio.to_thread(_dump, intake.database_url)).decode()
    # the dump holds the rows (by id) with their values sealed, not left out
    assert by_form.json()["signal_id"] in dump
    assert "pd1." in dump
    found = {
        "topics": _hits(p, topics.decode(errors="replace")),
        "pg_dump": _hits(p, dump),
        "logs": _hits(p, "\n".join(lines)),
        "/metrics": _hits(p, metrics),
    }
    assert "signal received" in "\n".join(lines), "the scan must see intake's own log lines"
    assert found == {"topics": [], "pg_dump": [], "logs": [], "/metrics": []}, json.dumps(found)
