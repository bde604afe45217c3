"""Referral's access log on the real Kafka and PostgreSQL: an organisation reading its inbox (the
person's words opened for it) writes an entry per referral shown, ids only; a coordinator of the
municipality reads it, another municipality's does not."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

from referral_harness import RunningReferral
from test_referral_flow import import_map, one_service_map


async def test_an_organisation_reading_its_inbox_is_logged(referral: RunningReferral) -> None:
    tag = uuid4().hex[:10]
    await import_map(referral, one_service_map(f"Wandelclub {tag}", "social_contact", 3))
    words = f"Mevrouw Inbox-{tag} wil graag wandelen met iemand."
    sent = await referral.help_question(needs=("social_contact",), text=words)
    signal_id = sent.data.signal_id
    body = await referral.proposals(signal_id)
    mine = next(r for r in body["referrals"] if r["service_name"] == f"Wandelclub {tag}")
    confirmed = await referral.client.post(
        f"/v1/referral/referrals/{mine['referral_id']}/send", headers=referral.staff()
    )
    assert confirmed.status_code == 200, confirmed.text
    organisation = referral.organisation(mine["organisation_id"])
    inbox = await referral.client.get("/v1/referral/inbox", headers=organisation)
    assert inbox.status_code == 200
    assert [i["question"] for i in inbox.json()] == [words]

    async with referral.referrals.service.pool.acquire() as conn:
        rows = [
            dict(r)
            for r in await conn.fetch(
                "SELECT * FROM access_log WHERE signal_id = $1"
                " AND activity = 'referral.organisation_inbox'",
                signal_id,
            )
        ]
    assert [(r["activity"], r["operation"], r["actor"], r["actor_kind"]) for r in rows] == [
        (
            "referral.organisation_inbox",
            "read",
            f"urn:signaalpunt:organisation:{mine['organisation_id']}",
            "partner",
        )
    ]
    assert rows[0]["categories"] == ["case", "concern"]
    assert rows[0]["subject_id"] == sent.data.subject_id
    dumped = json.dumps(rows, default=str)
    assert tag not in dumped
    assert "wandelen" not in dumped

    coordinator = referral.staff("coordinator")
    log = await referral.client.get(
        "/v1/access-log", params={"signal_id": str(signal_id)}, headers=coordinator
    )
    assert log.status_code == 200, log.text
    assert {UUID(e["signal_id"]) for e in log.json()["entries"]} == {signal_id}
    assert "referral.organisation_inbox" in {e["activity"] for e in log.json()["entries"]}
    elsewhere = await referral.client.get(
        "/v1/access-log",
        params={"signal_id": str(signal_id)},
        headers=referral.staff("coordinator", municipality="GM0687"),
    )
    assert elsewhere.json()["entries"] == []
    team = await referral.client.get("/v1/access-log", headers=referral.staff("team"))
    assert team.status_code == 403


async def test_the_organisation_sees_how_to_reach_the_person_only_when_they_agreed(
    referral: RunningReferral,
) -> None:
    """With consent to share them, the contact details the person gave the desk reach the
    organisation it was referred to (and the access log says contact details were opened);
    without it, the organisation gets the needs and the words, and no way to reach them."""
    tag = uuid4().hex[:10]
    await import_map(referral, one_service_map(f"Buurthuis {tag}", "social_contact", 3))
    phone = "0115 " + str(uuid4().int)[:6]
    agreed = await referral.help_question(
        needs=("social_contact",),
        text="Wil graag naar het buurthuis.",
        contact_plain={"name": f"Truus {tag}", "phone": phone},
    )
    silent = await referral.help_question(needs=("social_contact",), text="Liever niet bellen.")
    organisation = None
    for sent in (agreed, silent):
        body = await referral.proposals(sent.data.signal_id)
        mine = next(r for r in body["referrals"] if r["service_name"] == f"Buurthuis {tag}")
        confirmed = await referral.client.post(
            f"/v1/referral/referrals/{mine['referral_id']}/send", headers=referral.staff()
        )
        assert confirmed.status_code == 200, confirmed.text
        organisation = referral.organisation(mine["organisation_id"])
    assert organisation is not None
    inbox = await referral.client.get("/v1/referral/inbox", headers=organisation)
    assert inbox.status_code == 200, inbox.text
    by_signal = {UUID(i["signal_id"]): i for i in inbox.json()}
    assert by_signal[agreed.data.signal_id]["contact"] == {
        "name": f"Truus {tag}",
        "phone": phone,
        "email": None,
    }
    assert by_signal[silent.data.signal_id]["contact"] is None
    assert by_signal[silent.data.signal_id]["question"] == "Liever niet bellen."

    async with referral.referrals.service.pool.acquire() as conn:
        logged = await conn.fetchval(
            "SELECT categories FROM access_log WHERE signal_id = $1"
            " AND activity = 'referral.organisation_inbox'",
            agreed.data.signal_id,
        )
        dumped = json.dumps(
            [dict(r) for r in await conn.fetch("SELECT * FROM access_log")], default=str
        )
    assert sorted(logged) == ["case", "concern", "contact", "identity"]
    assert phone not in dumped
    assert tag not in dumped


async def test_the_teams_view_of_a_signal_is_logged(referral: RunningReferral) -> None:
    """The team's page of a signal (needs, languages, mobility, referrals): one entry per view,
    by the staff member who looked."""
    await import_map(referral, one_service_map("Koffieclub", "social_contact", 3))
    sent = await referral.help_question(needs=("social_contact",), text="Meneer Teamkijk")
    signal_id = sent.data.signal_id
    await referral.proposals(signal_id)

    async def views() -> list[tuple[str, str, str]]:
        async with referral.referrals.service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT actor, operation, purpose FROM access_log"
                " WHERE signal_id = $1 AND activity = 'referral.team_view'"
                " AND actor = 'staff:team-kijkt'",
                signal_id,
            )
        return [(r["actor"], r["operation"], r["purpose"]) for r in rows]

    assert await views() == []
    page = await referral.client.get(
        f"/v1/referral/signals/{signal_id}", headers=referral.staff(subject="staff:team-kijkt")
    )
    assert page.status_code == 200, page.text
    assert await views() == [("staff:team-kijkt", "read", "signal_handling")]
    elsewhere = await referral.client.get(
        f"/v1/referral/signals/{signal_id}",
        headers=referral.staff(municipality="GM0687", subject="staff:team-kijkt"),
    )
    assert elsewhere.status_code == 404
    assert len(await views()) == 1  # a refused view processed nothing


LOGGED = {
    "GET /v1/referral/signals/{signal_id}": "referral.team_view",
    "GET /v1/referral/inbox": "referral.organisation_inbox",
    "GET /v1/access-log": "referral.access_log_read",
}
"""Every operation that shows a person's data, and the activity it logs (the webhook's
disclosure is logged by the sender, `referral.webhook`, not by a route)."""
NOT_PERSONAL = {
    "POST /v1/referral/map/import",  # the social map: organisations and their offers
    "GET /v1/referral/map/export",
    "GET /v1/referral/map/services",
    "PATCH /v1/referral/map/services/{service_id}",
    "PUT /v1/referral/map/organisations/{organisation_id}/webhook",
    "PUT /v1/referral/routes/{municipality}/{route}",
    "POST /v1/referral/referrals/{referral_id}/send",  # ids; what leaves is logged when it does
    "GET /v1/referral/gaps",  # counts
    "GET /v1/referral/evaluation",  # counts
    "GET /v1/access-log/chain",  # counts and hashes
}
NOTE_WRITES = {
    "POST /v1/referral/referrals/{referral_id}/status",  # the team's, by phone
    "POST /v1/referral/inbox/{referral_id}",  # an organisation's answer
    "POST /v1/referral/callbacks/{organisation_id}",  # the same by signed callback
}
"""Answers that may carry a note about the person (sealed): logged as `referral.note` when
they do (`test_a_note_about_the_person_is_logged`)."""


async def test_every_operation_with_personal_data_writes_an_entry(
    referral: RunningReferral,
) -> None:
    """The OpenAPI document's operations, each placed: a new route must be (and, when it shows
    a person's data, log it), or this fails."""
    document = (await referral.management.get("/openapi.json")).json()
    found = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert found == LOGGED.keys() | NOT_PERSONAL | NOTE_WRITES

    tag = uuid4().hex[:8]
    await import_map(referral, one_service_map(f"Sweepclub {tag}", "social_contact", 3))
    sent = await referral.help_question(needs=("social_contact",), text="Mevrouw Sweep")
    signal_id = sent.data.signal_id
    body = await referral.proposals(signal_id)
    mine = next(r for r in body["referrals"] if r["service_name"] == f"Sweepclub {tag}")
    shipped = await referral.client.post(
        f"/v1/referral/referrals/{mine['referral_id']}/send", headers=referral.staff()
    )
    assert shipped.status_code == 200, shipped.text

    async def count(activity: str) -> int:
        async with referral.referrals.service.pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM access_log WHERE signal_id = $1 AND activity = $2",
                    signal_id,
                    activity,
                )
            )

    calls = {
        "GET /v1/referral/signals/{signal_id}": (
            f"/v1/referral/signals/{signal_id}",
            referral.staff(),
        ),
        "GET /v1/referral/inbox": (
            "/v1/referral/inbox",
            referral.organisation(mine["organisation_id"]),
        ),
        "GET /v1/access-log": (
            f"/v1/access-log?signal_id={signal_id}",
            referral.staff("coordinator"),
        ),
    }
    assert calls.keys() == LOGGED.keys()
    for operation, (path, headers) in calls.items():
        before = await count(LOGGED[operation])
        answer = await referral.client.get(path, headers=headers)
        assert answer.status_code == 200, (operation, answer.text)
        assert await count(LOGGED[operation]) == before + 1, operation


async def test_a_note_about_the_person_is_logged(referral: RunningReferral) -> None:
    """An organisation's answer with a note and the team's status with a note each write a
    `referral.note` entry (ids only; the note is sealed); an answer without one writes none."""
    tag = uuid4().hex[:8]
    await import_map(referral, one_service_map(f"Notitieclub {tag}", "social_contact", 3))
    sent = await referral.help_question(needs=("social_contact",), text="Meneer Notitie")
    signal_id = sent.data.signal_id
    body = await referral.proposals(signal_id)
    mine = next(r for r in body["referrals"] if r["service_name"] == f"Notitieclub {tag}")
    rid = mine["referral_id"]
    shipped = await referral.client.post(
        f"/v1/referral/referrals/{rid}/send", headers=referral.staff()
    )
    assert shipped.status_code == 200, shipped.text
    organisation = referral.organisation(mine["organisation_id"])

    async def notes() -> list[tuple[str, str, str]]:
        async with referral.referrals.service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT actor, actor_kind, operation FROM access_log"
                " WHERE signal_id = $1 AND activity = 'referral.note' ORDER BY entry_id",
                signal_id,
            )
            dumped = json.dumps([dict(r) for r in rows], default=str)
        assert f"Belde {tag}" not in dumped
        return [(r["actor"], r["actor_kind"], r["operation"]) for r in rows]

    accepted = await referral.client.post(
        f"/v1/referral/inbox/{rid}", headers=organisation, json={"status": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    assert await notes() == []  # no note: nothing about the person recorded
    progress = await referral.client.post(
        f"/v1/referral/inbox/{rid}",
        headers=organisation,
        json={"status": "in_progress", "note": f"Belde {tag}, komt dinsdag"},
    )
    assert progress.status_code == 200, progress.text
    org = f"urn:signaalpunt:organisation:{mine['organisation_id']}"
    assert await notes() == [(org, "partner", "write")]
    by_phone = await referral.client.post(
        f"/v1/referral/referrals/{rid}/status",
        headers=referral.staff(subject="staff:team-noteert"),
        json={"status": "completed", "note": f"Belde {tag}: loopt goed"},
    )
    assert by_phone.status_code == 200, by_phone.text
    assert await notes() == [(org, "partner", "write"), ("staff:team-noteert", "staff", "write")]
