"""Matching's access log on the real PostgreSQL: opening a volunteer's personal data writes an
entry (who, the volunteer's id, categories; never the values); a coordinator reads it, another
municipality's coordinator does not."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import asyncpg
from matching_harness import RunningMatching, volunteer


async def test_opening_a_volunteers_data_is_logged(
    matching: RunningMatching, database_url: str
) -> None:
    tag = uuid4().hex[:8]
    [vid] = await matching.volunteers(
        volunteer(first_name=f"Logboek{tag}", last_name="Vrijwilliger", languages=["nl"])
    )
    page = await matching.client.get(
        f"/v1/matching/volunteers/{vid}", headers=matching.staff(subject="staff:vc-kijkt")
    )
    assert page.status_code == 200
    assert page.json()["personal"]["first_name"] == f"Logboek{tag}"
    conn = await asyncpg.connect(database_url)
    try:
        rows = [
            dict(r)
            for r in await conn.fetch(
                "SELECT * FROM matching.access_log WHERE subject_id = $1 ORDER BY entry_id", vid
            )
        ]
    finally:
        await conn.close()
    assert [(r["activity"], r["actor"], r["purpose"]) for r in rows] == [
        ("matching.volunteer_registration", "staff:vc-1", "volunteer_registry"),
        ("matching.volunteer_view", "staff:vc-kijkt", "volunteer_registry"),
    ]
    assert rows[1]["categories"] == ["identity", "contact"]
    assert tag not in json.dumps(rows, default=str)
    # a volunteer elsewhere is not opened, and not logged
    elsewhere = await matching.client.get(
        f"/v1/matching/volunteers/{vid}", headers=matching.staff(municipality="GM0677")
    )
    assert elsewhere.status_code == 404

    log = await matching.client.get(
        "/v1/access-log", params={"subject_id": str(vid)}, headers=matching.staff("coordinator")
    )
    assert log.status_code == 200, log.text
    assert [e["activity"] for e in log.json()["entries"]] == [
        "matching.volunteer_view",
        "matching.volunteer_registration",
    ]
    other = await matching.client.get(
        "/v1/access-log",
        params={"subject_id": str(vid)},
        headers=matching.staff("coordinator", municipality="GM0677"),
    )
    assert other.json()["entries"] == []
    registrar = await matching.client.get("/v1/access-log", headers=matching.staff())
    assert registrar.status_code == 403


async def test_a_proposal_and_its_answer_link_are_logged(
    matching: RunningMatching, database_url: str
) -> None:
    """Matching gives the person's needs and neighbourhood to a volunteer (a write by the
    system), and the volunteer opening the link sees the first name (a read, by the volunteer);
    reading the log is logged too."""
    [vid] = await matching.volunteers(volunteer(first_name="Linkkijker", languages=["ku"]))
    sent = await matching.request(languages=["ku"], first_name="Geheimnaam")
    [proposed] = await matching.about(sent.data.signal_id)
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    shown = await matching.client.get(f"/v1/matching/answers/{token}")
    assert shown.json()["first_name"] == "Geheimnaam"
    conn = await asyncpg.connect(database_url)
    try:
        rows = [
            dict(r)
            for r in await conn.fetch(
                "SELECT * FROM matching.access_log WHERE signal_id = $1 ORDER BY entry_id",
                sent.data.signal_id,
            )
        ]
    finally:
        await conn.close()
    assert [(r["activity"], r["operation"], r["actor"], r["actor_kind"]) for r in rows] == [
        ("matching.proposal", "write", "system:matching", "system"),
        ("matching.answer_link_view", "read", f"volunteer:{vid}", "volunteer"),
    ]
    assert {r["subject_id"] for r in rows} == {sent.data.subject_id}
    assert "Geheimnaam" not in json.dumps(rows, default=str)

    read = await matching.client.get(
        "/v1/access-log",
        params={"signal_id": str(sent.data.signal_id)},
        headers=matching.staff("coordinator", subject="staff:fg-matching"),
    )
    assert [e["activity"] for e in read.json()["entries"]] == [
        "matching.answer_link_view",
        "matching.proposal",
    ]
    again = await matching.client.get(
        "/v1/access-log",
        params={"signal_id": str(sent.data.signal_id)},
        headers=matching.staff("coordinator"),
    )
    newest = again.json()["entries"][0]
    assert (newest["activity"], newest["actor"], newest["purpose"]) == (
        "matching.access_log_read",
        "staff:fg-matching",
        "accountability",
    )


LOGGED = {
    "POST /v1/matching/volunteers": "matching.volunteer_registration",
    "POST /v1/matching/volunteers/import": "matching.volunteer_registration",
    "GET /v1/matching/volunteers/{volunteer_id}": "matching.volunteer_view",
    "POST /v1/matching/volunteers/{volunteer_id}/erasure": "matching.volunteer_erasure",
    "GET /v1/matching/signals/{signal_id}": "matching.subject_access",
    "GET /v1/matching/answers/{token}": "matching.answer_link_view",
    "GET /v1/access-log": "matching.access_log_read",
}
"""Every operation that records or shows a person's (or a volunteer's) personal data."""
IDS_ONLY = {
    "GET /v1/matching/volunteers",  # the registry: no names, contact or postcode, only the area
    "GET /v1/matching/volunteers/vog-expiring",  # ids, dates, load
    "PATCH /v1/matching/volunteers/{volunteer_id}",  # status, capacity, dates; no names
    "GET /v1/matching/matches",  # ids, statuses, scores
    "GET /v1/matching/requests/{match_request_id}",  # needs and ids, no first name
    "POST /v1/matching/matches/{match_id}/status",
    "POST /v1/matching/matches/{match_id}/follow-up",
    "GET /v1/matching/unmatched",  # counts
    "POST /v1/matching/answers/{token}",  # the volunteer's yes or no
    "GET /v1/access-log/chain",  # counts and hashes
}


async def test_every_operation_with_personal_data_writes_an_entry(
    matching: RunningMatching, database_url: str
) -> None:
    """The OpenAPI document's operations, each placed as logged or ids-only: a new route must
    be placed (and, when it shows or records personal data, log it), or this fails."""
    document = (await matching.management.get("/openapi.json")).json()
    found = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert found == LOGGED.keys() | IDS_ONLY

    async def count(activity: str) -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM matching.access_log WHERE activity = $1", activity
                )
            )
        finally:
            await conn.close()

    coordinator = matching.staff("coordinator")
    [vid] = await matching.volunteers(volunteer(first_name="Sweep", languages=["ht"]))
    sent = await matching.request(languages=["ht"], first_name=None)
    [proposed] = await matching.about(sent.data.signal_id)
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    one = volunteer(first_name="Sweep-een", languages=["ht"])
    calls: dict[str, tuple[str, str, Any]] = {
        "POST /v1/matching/volunteers": ("POST", "/v1/matching/volunteers", one),
        "POST /v1/matching/volunteers/import": (
            "POST",
            "/v1/matching/volunteers/import",
            [volunteer(first_name="Sweep-twee", languages=["ht"])],
        ),
        "GET /v1/matching/volunteers/{volunteer_id}": (
            "GET",
            f"/v1/matching/volunteers/{vid}",
            None,
        ),
        "GET /v1/matching/signals/{signal_id}": (
            "GET",
            f"/v1/matching/signals/{sent.data.signal_id}",
            None,
        ),
        "GET /v1/matching/answers/{token}": ("GET", f"/v1/matching/answers/{token}", None),
        "GET /v1/access-log": ("GET", f"/v1/access-log?subject_id={vid}", None),
        # last: the volunteer is gone afterwards
        "POST /v1/matching/volunteers/{volunteer_id}/erasure": (
            "POST",
            f"/v1/matching/volunteers/{vid}/erasure",
            {"reason": "data_subject_request"},
        ),
    }
    assert calls.keys() == LOGGED.keys()
    for operation, (method, path, body) in calls.items():
        activity = LOGGED[operation]
        before = await count(activity)
        answer = await matching.client.request(method, path, json=body, headers=coordinator)
        assert answer.status_code in {200, 201}, (operation, answer.text)
        assert await count(activity) == before + 1, operation
