"""Notifications' access log (issue 17): a message about a person that went out is an entry (the
system sent it; the reporter's sealed address opened: category contact), ids only; a coordinator
of the municipality reads it through `GET /v1/access-log`, another municipality's does not."""

from __future__ import annotations

import json
from uuid import uuid4

import asyncpg
from notifications_harness import Running, envelope, received_signal
from test_notifications_flow import sealed, settled


async def test_a_message_sent_about_a_person_is_logged(notifications: Running) -> None:
    subject = uuid4()
    address = f"logboek-{subject.hex[:8]}@example.org"
    signal = received_signal(
        subject_id=subject, email=await sealed(notifications, subject, address, "reporter.email")
    )
    await notifications.publish(envelope(signal))
    (row,) = await settled(notifications, 1, signal_id=signal.signal_id)
    assert row["status"] == "sent"

    conn = await asyncpg.connect(notifications.database_url)
    try:
        rows = [
            dict(r)
            for r in await conn.fetch(
                "SELECT * FROM notifications.access_log WHERE signal_id = $1",
                signal.signal_id,
            )
        ]
    finally:
        await conn.close()
    assert [(r["activity"], r["operation"], r["actor"], r["actor_kind"]) for r in rows] == [
        ("notifications.message_sent", "read", "system:notifications", "system")
    ]
    assert rows[0]["subject_id"] == subject
    assert rows[0]["categories"] == ["case", "contact"]
    assert rows[0]["municipality"] == "GM0715"
    assert address not in json.dumps(rows, default=str)

    coordinator = notifications.token(roles=("coordinator",))
    mine = await notifications.client.get(
        "/v1/access-log", params={"signal_id": str(signal.signal_id)}, headers=coordinator
    )
    assert mine.status_code == 200, mine.text
    assert [e["activity"] for e in mine.json()["entries"]] == ["notifications.message_sent"]
    elsewhere = await notifications.client.get(
        "/v1/access-log",
        params={"signal_id": str(signal.signal_id)},
        headers=notifications.token(roles=("coordinator",), municipality="GM0687"),
    )
    assert elsewhere.json()["entries"] == []
    operator = await notifications.client.get("/v1/access-log", headers=notifications.token())
    assert operator.status_code == 403


LOGGED = {"GET /v1/access-log": "notifications.access_log_read"}
"""Every operation that shows a person's data, and the activity it logs (a message sent is
logged by the sender, `notifications.message_sent`, not by a route)."""
IDS_ONLY = {
    "GET /v1/deliveries",  # rule, template, channel, kind of recipient, status: never an address
    "POST /v1/deliveries/{delivery_id}/retry",  # a delivery id
    "GET /v1/access-log/chain",  # counts and hashes
}


async def test_every_operation_with_personal_data_writes_an_entry(notifications: Running) -> None:
    """The OpenAPI document's operations, each placed: a new route must be (and, when it shows
    a person's data, log it), or this fails."""
    document = (await notifications.management.get("/openapi.json")).json()
    found = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert found == LOGGED.keys() | IDS_ONLY
    signal_id = uuid4()

    async def count() -> int:
        conn = await asyncpg.connect(notifications.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM notifications.access_log"
                    " WHERE signal_id = $1 AND activity = 'notifications.access_log_read'",
                    signal_id,
                )
            )
        finally:
            await conn.close()

    before = await count()
    read = await notifications.client.get(
        "/v1/access-log",
        params={"signal_id": str(signal_id)},
        headers=notifications.token(roles=("coordinator",)),
    )
    assert read.status_code == 200, read.text
    assert await count() == before + 1
