"""Triage's access log on the real Kafka and PostgreSQL: viewing a case, the review queue and a
coordinator's decision each write an entry with ids only; a coordinator reads their own
municipality's entries; the service's role cannot change or delete one."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from signaalpunt_runtime.tenancy import SCOPE_SETTING
from signaalpunt_testkit.tenancy import service_role_dsn
from triage_harness import RunningTriage


async def _rows(triage: RunningTriage, signal_id: UUID) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(triage.database_url, server_settings={"search_path": "triage"})
    try:
        rows = await conn.fetch(
            "SELECT * FROM access_log WHERE signal_id = $1 ORDER BY entry_id", signal_id
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_case_reads_and_decisions_are_logged(triage: RunningTriage) -> None:
    tag = uuid4().hex[:10]
    text = f"Meneer Logboek-{tag} woont alleen en krijgt nooit bezoek."
    sent = await triage.send(text, birth_year=1944)
    signal_id, subject_id = sent.data.signal_id, sent.data.subject_id
    await triage.case(signal_id, subject="staff:regisseur-kijkt")  # polls until triaged
    queue = await triage.client.get(
        "/v1/triage/queue", params={"limit": 200}, headers=triage.token(subject="staff:desk-1")
    )
    assert queue.status_code == 200
    changed = await triage.client.post(
        f"/v1/triage/signals/{signal_id}/decisions",
        json={"priority": "low", "reason": f"Zoon belde, kenmerk {tag}"},
        headers=triage.token(subject="staff:regisseur-1"),
    )
    assert changed.status_code == 200, changed.text

    rows = await _rows(triage, signal_id)
    activities = [(r["activity"], r["operation"], r["actor"]) for r in rows]
    assert ("triage.case_view", "read", "staff:regisseur-kijkt") in activities
    assert str(signal_id) in {i["signal_id"] for i in queue.json()["items"]}
    assert ("triage.review_queue", "read", "staff:desk-1") in activities
    assert activities[-1] == ("triage.decision", "write", "staff:regisseur-1")
    assert {r["subject_id"] for r in rows} == {subject_id}
    assert {r["municipality"] for r in rows} == {"GM0715"}
    dumped = json.dumps(rows, default=str)
    for planted in (tag, "Logboek", "Zoon"):
        assert planted not in dumped

    # the coordinator's route: their municipality's entries, by signal or by person
    mine = await triage.client.get(
        "/v1/access-log", params={"subject_id": str(subject_id)}, headers=triage.token()
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["service"] == "triage"
    assert {e["signal_id"] for e in mine.json()["entries"]} == {str(signal_id)}
    assert mine.json()["entries"][0]["activity"] == "triage.decision"  # newest first
    other = await triage.client.get(
        "/v1/access-log",
        params={"signal_id": str(signal_id)},
        headers=triage.token(municipality="GM0687"),
    )
    assert other.status_code == 200
    assert other.json()["entries"] == []
    desk = await triage.client.get("/v1/access-log", headers=triage.token(roles=("desk",)))
    assert desk.status_code == 403
    assert desk.headers["content-type"] == "application/problem+json"


async def test_the_service_role_cannot_change_the_log(triage: RunningTriage) -> None:
    sent = await triage.send(cues=("lives_alone",))
    await triage.case(sent.data.signal_id)
    dsn = await service_role_dsn(triage.database_url, "triage")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "triage"})
    try:
        await conn.execute("SELECT set_config($1, '*', false)", SCOPE_SETTING)
        for statement in (
            "UPDATE access_log SET actor = 'someone-else' WHERE signal_id = $1",
            "DELETE FROM access_log WHERE signal_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, sent.data.signal_id)
    finally:
        await conn.close()
    assert [r["activity"] for r in await _rows(triage, sent.data.signal_id)][:1] == [
        "triage.case_view"
    ]


LOGGED = {
    "GET /v1/triage/queue": "triage.review_queue",
    "GET /v1/triage/signals/{signal_id}": "triage.case_view",
    "POST /v1/triage/signals/{signal_id}/decisions": "triage.decision",
    "POST /v1/triage/signals/{signal_id}/steps": "triage.case_step",
    "GET /v1/access-log": "triage.access_log_read",  # who processed the person's data
    # the needs and mobility the person's cues point to: a view of the case
    "GET /v1/triage/signals/{signal_id}/help-question-draft": "triage.case_view",
}
"""Every operation that returns or records a person's data, and the activity it logs."""
IDS_ONLY = {
    "POST /v1/triage/signals/{signal_id}/lock",  # the lock: signal id, holder, expiry
    "DELETE /v1/triage/signals/{signal_id}/lock",
    "GET /v1/access-log/chain",  # counts and hashes
}


async def test_every_operation_with_personal_data_writes_an_entry(triage: RunningTriage) -> None:
    """The OpenAPI document's operations, each either logged or ids-only: a new route must be
    placed (and, when it shows a person's data, log it), or this fails."""
    document = (await triage.management.get("/openapi.json")).json()
    found = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert found == LOGGED.keys() | IDS_ONLY
    sent = await triage.send(cues=("lives_alone",))
    signal_id = sent.data.signal_id
    await triage.case(signal_id, subject="staff:sweep")
    calls: dict[str, tuple[str, str, dict[str, str | int], dict[str, str] | None]] = {
        "GET /v1/triage/queue": ("GET", "/v1/triage/queue", {"limit": 200}, None),
        "GET /v1/triage/signals/{signal_id}": ("GET", f"/v1/triage/signals/{signal_id}", {}, None),
        "POST /v1/triage/signals/{signal_id}/decisions": (
            "POST",
            f"/v1/triage/signals/{signal_id}/decisions",
            {},
            {},
        ),
        "POST /v1/triage/signals/{signal_id}/steps": (
            "POST",
            f"/v1/triage/signals/{signal_id}/steps",
            {},
            {"step": "reporter_contacted"},
        ),
        "GET /v1/access-log": ("GET", "/v1/access-log", {"signal_id": str(signal_id)}, None),
        "GET /v1/triage/signals/{signal_id}/help-question-draft": (
            "GET",
            f"/v1/triage/signals/{signal_id}/help-question-draft",
            {},
            None,
        ),
    }
    for operation, activity in LOGGED.items():
        method, path, params, body = calls[operation]
        before = [r["activity"] for r in await _rows(triage, signal_id)].count(activity)
        answer = await triage.client.request(
            method, path, params=params, json=body, headers=triage.token()
        )
        assert answer.status_code == 200, (operation, answer.text)
        after = [r["activity"] for r in await _rows(triage, signal_id)].count(activity)
        assert after == before + 1, operation
