"""Matching's access log on the real PostgreSQL: opening a volunteer's personal data writes an
entry (who, the volunteer's id, categories; never the values); a coordinator reads it, another
municipality's coordinator does not."""

from __future__ import annotations

import json
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
                "SELECT * FROM matching.access_log WHERE subject_id = $1", vid
            )
        ]
    finally:
        await conn.close()
    assert [(r["activity"], r["actor"], r["purpose"]) for r in rows] == [
        ("matching.volunteer_view", "staff:vc-kijkt", "volunteer_registry")
    ]
    assert rows[0]["categories"] == ["identity", "contact"]
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
    assert [e["activity"] for e in log.json()["entries"]] == ["matching.volunteer_view"]
    other = await matching.client.get(
        "/v1/access-log",
        params={"subject_id": str(vid)},
        headers=matching.staff("coordinator", municipality="GM0677"),
    )
    assert other.json()["entries"] == []
    registrar = await matching.client.get("/v1/access-log", headers=matching.staff())
    assert registrar.status_code == 403
