"""The access log and the right of access (AVG art. 15) on the real Kafka and PostgreSQL: every
search, export and erasure of a person's data writes an entry (ids only), the log is append-only
for the service's role, a coordinator reads only their municipality's entries, and the export
holds exactly what was stored, decrypted, with who processed it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from intake_harness import RunningIntake
from signaalpunt_intake.erasure_cli import app as cli
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import (
    AccessEntry,
    AccessLogPruner,
    ActorKind,
    DataCategory,
    Operation,
    Purpose,
)
from signaalpunt_runtime.tenancy import SCOPE_SETTING
from signaalpunt_testkit.tenancy import service_role_dsn
from test_http_channels import web_form
from typer.testing import CliRunner

PROBLEM = "application/problem+json"


def _planted() -> dict[str, str]:
    tag = uuid4().hex[:10]
    return {
        "subject_name": f"Mevrouw Inzage-{tag} Jansen",
        "address": f"Inzagestraat {tag} 7",
        "subject_phone": f"06-{tag[:8]}",
        "text": f"Zij zit alleen sinds haar man overleed, kenmerk {tag}.",
        "reporter_name": f"Buurman Melder-{tag}",
        "reporter_phone": f"010-{tag[:7]}",
        "reporter_email": f"melder-{tag}@example.org",
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
        "postcode": "4531 PX",
        "birth_year": 1939,
    }
    body["concern"] = {"text": p["text"], "cues": ["lives_alone"]}
    return body


def _coordinator(intake: RunningIntake, who: str = "regisseur-1", **kw: Any) -> dict[str, str]:
    return intake.token(roles=("coordinator",), subject=f"urn:signaalpunt:staff:{who}", **kw)


async def _submit(intake: RunningIntake, body: dict[str, Any]) -> str:
    answer = await intake.client.post("/v1/signals", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["signal_id"])


async def _rows(intake: RunningIntake, signal_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(intake.database_url, server_settings={"search_path": "intake"})
    try:
        rows = await conn.fetch(
            "SELECT * FROM access_log WHERE signal_id = $1 ORDER BY entry_id", UUID(signal_id)
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_the_export_holds_what_was_stored_and_who_looked(intake: RunningIntake) -> None:
    planted = _planted()
    signal_id = await _submit(intake, _form(planted))
    search = {
        "municipality": "GM0715",
        "name": planted["subject_name"],
        "birth_year": 1939,
        "postcode": "4531PX",
    }
    found = await intake.client.post(
        "/v1/erasures/search", json=search, headers=_coordinator(intake, "regisseur-zoekt")
    )
    assert found.status_code == 200, found.text
    assert [c["signal_id"] for c in found.json()["candidates"]] == [signal_id]

    ask = {"municipality": "GM0715", "signal_ids": [signal_id]}
    first = await intake.client.post(
        "/v1/subject-access/export", json=ask, headers=_coordinator(intake)
    )
    assert first.status_code == 200, first.text
    export = first.json()
    assert [s["signal_id"] for s in export["signals"]] == [signal_id]
    held = export["signals"][0]["signal"]
    assert held["subject"]["name"] == planted["subject_name"]
    assert held["subject"]["address"] == planted["address"]
    assert held["subject"]["phone"] == planted["subject_phone"]
    assert held["subject"]["postcode"].replace(" ", "") == "4531PX"
    assert held["concern"]["text"] == planted["text"]
    assert held["reporter"]["name"] == planted["reporter_name"]
    assert held["reporter"]["phone"] == planted["reporter_phone"]
    assert held["reporter"]["email"] == planted["reporter_email"]
    assert "pd1." not in json.dumps(export), "a sealed value was left unopened"
    # who processed it before, newest first: the search, and the web form that took it in
    assert [(a["operation"], a["actor"]) for a in export["accessed"]] == [
        ("search", "urn:signaalpunt:staff:regisseur-zoekt"),
        ("write", "anonymous"),
    ]

    second = await intake.client.post(
        "/v1/subject-access/export", json=ask, headers=_coordinator(intake, "regisseur-2")
    )
    assert [(a["operation"], a["actor"]) for a in second.json()["accessed"]] == [
        ("export", "urn:signaalpunt:staff:regisseur-1"),
        ("search", "urn:signaalpunt:staff:regisseur-zoekt"),
        ("write", "anonymous"),
    ]

    # the log itself holds ids and vocabulary only: none of the planted values, in any column
    rows = await _rows(intake, signal_id)
    assert [r["operation"] for r in rows] == ["write", "search", "export", "export"]
    assert rows[2]["purpose"] == "data_subject_access"
    assert rows[2]["municipality"] == "GM0715"
    assert rows[2]["roles"] == ["coordinator"]
    assert rows[2]["trace_id"] is not None
    dumped = json.dumps(rows, default=str).lower()
    for value in planted.values():
        assert value.lower() not in dumped


async def test_the_export_is_refused_to_others(intake: RunningIntake) -> None:
    signal_id = await _submit(intake, _form(_planted()))
    ask = {"municipality": "GM0715", "signal_ids": [signal_id]}
    for headers in (
        intake.token(),  # the desk
        _coordinator(intake, municipality="GM0687"),
        intake.token(kind="partner", roles=("coordinator",), channels=("partner_event",)),
    ):
        refused = await intake.client.post("/v1/subject-access/export", json=ask, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
    unknown = await intake.client.post(
        "/v1/subject-access/export",
        json={"municipality": "GM0715", "signal_ids": [signal_id, str(uuid4())]},
        headers=_coordinator(intake),
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM
    # a coordinator elsewhere naming their own municipality does not reach this signal either
    elsewhere = await intake.client.post(
        "/v1/subject-access/export",
        json={"municipality": "GM0687", "signal_ids": [signal_id]},
        headers=_coordinator(intake, municipality="GM0687"),
    )
    assert elsewhere.status_code == 404
    no_token = await intake.client.post("/v1/subject-access/export", json=ask)
    assert no_token.status_code == 401
    # nothing was exported, so nothing was logged (but its taking in)
    assert [r["activity"] for r in await _rows(intake, signal_id)] == ["intake.signal_received"]


async def test_a_coordinator_reads_their_municipalitys_log(intake: RunningIntake) -> None:
    signal_id = await _submit(intake, _form(_planted()))
    ask = {"municipality": "GM0715", "signal_ids": [signal_id]}
    exported = await intake.client.post(
        "/v1/subject-access/export", json=ask, headers=_coordinator(intake)
    )
    assert exported.status_code == 200
    subject_id = exported.json()["signals"][0]["subject_id"]

    mine = await intake.client.get(
        "/v1/access-log", params={"signal_id": signal_id}, headers=_coordinator(intake)
    )
    assert mine.status_code == 200, mine.text
    assert [(e["operation"], e["signal_id"]) for e in mine.json()["entries"]] == [
        ("export", signal_id),
        ("write", signal_id),
    ]
    by_person = await intake.client.get(
        "/v1/access-log", params={"subject_id": subject_id}, headers=_coordinator(intake)
    )
    # the export and the taking in (the read just before was about the signal, not the person)
    assert [e["signal_id"] for e in by_person.json()["entries"]] == [signal_id, signal_id]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    after = await intake.client.get(
        "/v1/access-log",
        params={"signal_id": signal_id, "since": later},
        headers=_coordinator(intake),
    )
    assert after.json()["entries"] == []

    # another municipality's coordinator sees nothing of it, and may not name GM0715
    other = await intake.client.get(
        "/v1/access-log",
        params={"signal_id": signal_id},
        headers=_coordinator(intake, municipality="GM0687"),
    )
    assert other.status_code == 200
    assert other.json()["entries"] == []
    named = await intake.client.get(
        "/v1/access-log",
        params={"municipality": "GM0715"},
        headers=_coordinator(intake, municipality="GM0687"),
    )
    assert named.status_code == 403
    assert named.headers["content-type"] == PROBLEM
    desk = await intake.client.get("/v1/access-log", headers=intake.token())
    assert desk.status_code == 403
    bad = await intake.client.get(
        "/v1/access-log", params={"signal_id": "not-an-id"}, headers=_coordinator(intake)
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM


async def test_the_database_keeps_other_municipalities_entries_out(intake: RunningIntake) -> None:
    """Row-level security: the service's role, scoped to GM0687, reads no GM0715 entry even
    without any WHERE, and cannot write one for GM0715."""
    signal_id = await _submit(intake, _form(_planted()))
    ask = {"municipality": "GM0715", "signal_ids": [signal_id]}
    await intake.client.post("/v1/subject-access/export", json=ask, headers=_coordinator(intake))
    dsn = await service_role_dsn(intake.database_url, "intake")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "intake"})
    try:
        await conn.execute("SELECT set_config($1, 'GM0687', false)", SCOPE_SETTING)
        seen = await conn.fetch("SELECT municipality FROM access_log")
        assert {r["municipality"] for r in seen} <= {"GM0687"}
        await conn.execute("SELECT set_config($1, 'GM0715', false)", SCOPE_SETTING)
        assert await conn.fetchval(
            "SELECT count(*) FROM access_log WHERE signal_id = $1", UUID(signal_id)
        )
        await conn.execute("SELECT set_config($1, 'GM0687', false)", SCOPE_SETTING)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO access_log (activity, operation, actor, actor_kind, municipality,"
                " categories, purpose, outcome) VALUES ('x.y', 'read', 'someone', 'staff',"
                " 'GM0715', '{case}', 'signal_handling', 'ok')"
            )
    finally:
        await conn.close()


async def test_the_log_is_append_only_for_the_service(intake: RunningIntake) -> None:
    signal_id = await _submit(intake, _form(_planted()))
    ask = {"municipality": "GM0715", "signal_ids": [signal_id]}
    await intake.client.post("/v1/subject-access/export", json=ask, headers=_coordinator(intake))
    dsn = await service_role_dsn(intake.database_url, "intake")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "intake"})
    try:
        await conn.execute("SELECT set_config($1, '*', false)", SCOPE_SETTING)
        for statement in (
            "UPDATE access_log SET actor = 'someone-else' WHERE signal_id = $1",
            "UPDATE access_log SET at = at - interval '3 years' WHERE signal_id = $1",
            "DELETE FROM access_log WHERE signal_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, UUID(signal_id))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE access_log")
    finally:
        await conn.close()
    rows = await _rows(intake, signal_id)
    assert [(r["operation"], r["actor"]) for r in rows] == [
        ("write", "anonymous"),
        ("export", "urn:signaalpunt:staff:regisseur-1"),
    ]


async def _log_entry(conn: asyncpg.Connection, signal_id: UUID, municipality: str) -> None:
    await conn.execute(
        "INSERT INTO access_log (activity, operation, actor, actor_kind, municipality,"
        " signal_id, categories, purpose, outcome) VALUES ('intake.erasure_search', 'search',"
        " 'urn:x', 'staff', $2, $1, '{identity}', 'erasure', 'ok')",
        signal_id,
        municipality,
    )


async def _behind_the_triggers(conn: asyncpg.Connection, statement: str, *args: Any) -> None:
    """What only a superuser can do: change rows with the triggers off (replication role)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(statement, *args)


async def test_retention_removes_old_entries_only(intake: RunningIntake) -> None:
    conn = await asyncpg.connect(intake.database_url, server_settings={"search_path": "intake"})
    old, young = uuid4(), uuid4()
    try:
        for signal_id in (old, young):
            # in a chain of their own: ageing them breaks it, GM0715's stays whole
            await _log_entry(conn, signal_id, "GM0680")
        # the entries were written now (the trigger sets the time); age them as a clock would
        await _behind_the_triggers(
            conn,
            "UPDATE access_log SET at = at - make_interval(days => CASE signal_id WHEN $1"
            " THEN 800 ELSE 30 END) WHERE signal_id = ANY($2::uuid[])",
            old,
            [old, young],
        )
        pruner = AccessLogPruner(lambda: intake.service.pool, retention_days=730)
        assert await pruner.run() >= 1
        left = {
            r["signal_id"]
            for r in await conn.fetch(
                "SELECT signal_id FROM access_log WHERE signal_id = ANY($1::uuid[])", [old, young]
            )
        }
        assert left == {young}
        # a retention shorter than the floor is refused by the database, not carried out
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await access_log.prune(conn, datetime.now(UTC))
        assert await conn.fetchval("SELECT count(*) FROM access_log WHERE signal_id = $1", young)
    finally:
        await conn.close()
    with pytest.raises(ValueError, match="at least"):
        AccessLogPruner(lambda: intake.service.pool, retention_days=30)


async def test_the_chain_shows_a_changed_or_removed_entry(intake: RunningIntake) -> None:
    """Each entry's hash covers the previous one's: concurrent writers keep the chain whole; an
    entry changed or removed behind the triggers' back (a superuser) shows where."""
    signal_ids = [await _submit(intake, _form(_planted())) for _ in range(3)]
    exports = [
        intake.client.post(
            "/v1/subject-access/export",
            json={"municipality": "GM0715", "signal_ids": [s]},
            headers=_coordinator(intake, f"regisseur-{i}"),
        )
        for i, s in enumerate(signal_ids * 4)
    ]
    assert {a.status_code for a in await asyncio.gather(*exports)} == {200}

    async def chain() -> dict[str, Any]:
        answer = await intake.client.get(
            "/v1/access-log/chain", params={"municipality": "GM0715"}, headers=_coordinator(intake)
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    whole = await chain()
    assert whole["intact"] is True
    assert whole["broken_at"] is None
    assert whole["entries"] == whole["last_seq"] - whole["first_seq"] + 1 >= 12

    conn = await asyncpg.connect(intake.database_url, server_settings={"search_path": "intake"})
    try:
        rows = await _rows(intake, signal_ids[1])
        changed = rows[1]["chain_seq"]
        await _behind_the_triggers(
            conn,
            "UPDATE access_log SET actor = 'urn:signaalpunt:staff:someone-else'"
            " WHERE municipality = 'GM0715' AND chain_seq = $1",
            changed,
        )
        assert (await chain())["broken_at"] == changed
        await _behind_the_triggers(
            conn,
            "UPDATE access_log SET actor = $2 WHERE municipality = 'GM0715' AND chain_seq = $1",
            changed,
            rows[1]["actor"],
        )
        assert (await chain())["intact"] is True
        await conn.execute(
            "CREATE TEMP TABLE removed AS SELECT * FROM access_log"
            " WHERE municipality = 'GM0715' AND chain_seq = $1",
            changed,
        )
        await _behind_the_triggers(
            conn,
            "DELETE FROM access_log WHERE municipality = 'GM0715' AND chain_seq = $1",
            changed,
        )
        assert (await chain())["broken_at"] == changed + 1
        # put back as it was (for the module's other tests): whole again
        await _behind_the_triggers(
            conn, "INSERT INTO access_log OVERRIDING SYSTEM VALUE SELECT * FROM removed"
        )
        assert (await chain())["intact"] is True
    finally:
        await conn.close()
    elsewhere = await intake.client.get(
        "/v1/access-log/chain",
        params={"municipality": "GM0715"},
        headers=_coordinator(intake, municipality="GM0687"),
    )
    assert elsewhere.status_code == 403


async def test_writers_of_several_municipalities_do_not_deadlock(intake: RunningIntake) -> None:
    """Each entry locks its municipality's chain until its transaction ends. Two writers whose
    entries named the same municipalities in opposite orders (two rounds of the sender, two
    group commits) took the locks in opposite orders, and PostgreSQL broke the deadlock by
    failing one of them (issue 22: 27 deadlocks in one benchmark run, each a round retried).
    Here a third transaction holds both chains, so that both writers start at once when it
    ends; both commit."""
    dsn, search = intake.database_url, {"search_path": "intake"}
    holder = await asyncpg.connect(dsn, server_settings=search)
    writers = [await asyncpg.connect(dsn, server_settings=search) for _ in range(2)]
    tag = uuid4()

    def entry(municipality: str) -> AccessEntry:
        return AccessEntry(
            activity="intake.erasure_search",
            operation=Operation.SEARCH,
            actor="urn:signaalpunt:staff:regisseur-1",
            actor_kind=ActorKind.STAFF,
            municipality=municipality,
            signal_id=tag,
            categories=(DataCategory.IDENTITY,),
            purpose=Purpose.ERASURE,
        )

    async def write(conn: asyncpg.Connection, order: list[str]) -> None:
        async with conn.transaction():
            await access_log.record(conn, [entry(m) for m in order])

    async def waiting() -> int:
        return int(
            await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])"
                " AND wait_event_type = 'Lock'",
                [w.get_server_pid() for w in writers],
            )
        )

    try:
        both = holder.transaction()
        await both.start()
        for municipality in ("GM0715", "GM0718"):
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtext('intake.access_log'), hashtext($1))",
                municipality,
            )
        written = asyncio.gather(
            write(writers[0], ["GM0715", "GM0718"]), write(writers[1], ["GM0718", "GM0715"])
        )
        for _ in range(100):
            if await waiting() == 2:
                break
            await asyncio.sleep(0.05)
        assert await waiting() == 2
        await both.commit()
        await written  # a deadlock fails one of them here
        rows = await holder.fetch(
            "SELECT municipality FROM access_log WHERE signal_id = $1 ORDER BY entry_id", tag
        )
        assert sorted(r["municipality"] for r in rows) == ["GM0715", "GM0715", "GM0718", "GM0718"]
    finally:
        for conn in (holder, *writers):
            await conn.close()


async def test_an_erasure_is_logged_with_its_coordinator(intake: RunningIntake) -> None:
    signal_id = await _submit(intake, _form(_planted()))
    asked = await intake.client.post(
        "/v1/erasures",
        json={"municipality": "GM0715", "signal_ids": [signal_id], "reason": "entered_in_error"},
        headers=_coordinator(intake),
    )
    assert asked.status_code == 202, asked.text
    approved = await intake.client.post(
        f"/v1/erasures/{asked.json()['erasure_id']}/approve",
        headers=_coordinator(intake, "regisseur-2"),
    )
    assert approved.status_code == 200, approved.text
    rows = await _rows(intake, signal_id)
    assert [(r["operation"], r["actor"], r["purpose"]) for r in rows] == [
        ("write", "anonymous", "signal_handling"),
        ("erase", "urn:signaalpunt:staff:regisseur-2", "erasure"),
    ]
    # and it is gone for an export afterwards
    gone = await intake.client.post(
        "/v1/subject-access/export",
        json={"municipality": "GM0715", "signal_ids": [signal_id]},
        headers=_coordinator(intake),
    )
    assert gone.status_code == 404


async def test_the_cli_exports_and_reads_the_log_through_the_api(intake: RunningIntake) -> None:
    planted = _planted()
    signal_id = await _submit(intake, _form(planted))
    url = str(intake.client.base_url).rstrip("/")
    token = _coordinator(intake, "regisseur-cli")["Authorization"].removeprefix("Bearer ")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--url", url, "--token", token], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    exported = json.loads(await asyncio.to_thread(run, "export", "GM0715", signal_id))
    assert exported["signals"][0]["signal"]["subject"]["name"] == planted["subject_name"]
    listed = await asyncio.to_thread(run, "access-log", "GM0715", "--signal", signal_id)
    assert "urn:signaalpunt:staff:regisseur-cli" in listed
    assert "intake.subject_access_export" in listed
    assert "2 entries" in listed  # the export and the taking in
    assert planted["subject_name"] not in listed
    assert "intact" in await asyncio.to_thread(run, "chain", "GM0715")


LOGGED = {
    "POST /v1/signals": "intake.signal_received",  # the person's data taken in (a write)
    "GET /v1/access-log": "intake.access_log_read",  # who processed the person's data
    "POST /v1/erasures/search": "intake.erasure_search",
    "POST /v1/subject-access/export": "intake.subject_access_export",
    "GET /v1/signals/{signal_id}/handling": "intake.signal_view",  # the desk's and coordinators'
    "POST /v1/erasures/{erasure_id}/approve": "intake.erasure",
}
"""Every operation that takes in, shows or erases a person's data, and the activity it logs."""
IDS_ONLY = {
    "GET /v1/signals/{signal_id}/status",  # received / being handled / handled
    "POST /v1/erasures",  # a request (ids); carried out at once without four eyes: logged
    "GET /v1/erasures/{erasure_id}",
    "GET /v1/access-log/chain",  # counts and hashes
    "GET /.well-known/jwks.json",  # intake's public key for partners
}


async def test_every_operation_with_personal_data_writes_an_entry(intake: RunningIntake) -> None:
    """The OpenAPI document's operations, each placed: a new route must be (and, when it shows
    a person's data, log it), or this fails."""
    document = (await intake.management.get("/openapi.json")).json()
    found = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert found == LOGGED.keys() | IDS_ONLY
    planted = _planted()
    signal_id = await _submit(intake, _form(planted))

    async def count(activity: str) -> int:
        return [r["activity"] for r in await _rows(intake, signal_id)].count(activity)

    # the submission itself (the first call): one entry for the signal it took in
    assert await count(LOGGED["POST /v1/signals"]) == 1

    async def read_log() -> httpx.Response:
        return await intake.client.get(
            "/v1/access-log", params={"signal_id": signal_id}, headers=_coordinator(intake)
        )

    async def search() -> httpx.Response:
        return await intake.client.post(
            "/v1/erasures/search",
            json={"municipality": "GM0715", "signal_ids": [signal_id]},
            headers=_coordinator(intake),
        )

    async def export() -> httpx.Response:
        return await intake.client.post(
            "/v1/subject-access/export",
            json={"municipality": "GM0715", "signal_ids": [signal_id]},
            headers=_coordinator(intake),
        )

    async def handling() -> httpx.Response:
        return await intake.client.get(
            f"/v1/signals/{signal_id}/handling", headers=intake.token(roles=("desk",))
        )

    async def approve() -> httpx.Response:
        asked = await intake.client.post(
            "/v1/erasures",
            json={
                "municipality": "GM0715",
                "signal_ids": [signal_id],
                "reason": "consent_withdrawn",
            },
            headers=_coordinator(intake),
        )
        assert asked.status_code == 202, asked.text
        return await intake.client.post(
            f"/v1/erasures/{asked.json()['erasure_id']}/approve",
            headers=_coordinator(intake, "regisseur-2"),
        )

    calls = {
        "GET /v1/access-log": read_log,
        "POST /v1/erasures/search": search,
        "POST /v1/subject-access/export": export,
        "GET /v1/signals/{signal_id}/handling": handling,
        "POST /v1/erasures/{erasure_id}/approve": approve,  # last: the signal is gone after
    }
    assert calls.keys() | {"POST /v1/signals"} == LOGGED.keys()
    for operation, call in calls.items():
        before = await count(LOGGED[operation])
        answer = await call()
        assert answer.status_code == 200, (operation, answer.text)
        assert await count(LOGGED[operation]) == before + 1, operation


async def test_a_signal_taken_in_and_a_read_of_the_log_are_logged(intake: RunningIntake) -> None:
    """The web form writes an entry by `anonymous` (kind `public`: no address of the reporter),
    the desk one by its staff id; reading the log writes one more, for the signal asked about."""
    planted = _planted()
    by_form = await _submit(intake, _form(planted))
    desk = await intake.client.post(
        "/v1/signals",
        json={**_form(_planted()), "channel": "phone"},
        headers=intake.token(roles=("desk",), subject="urn:signaalpunt:staff:balie-3"),
    )
    assert desk.status_code == 202, desk.text
    [form_entry] = await _rows(intake, by_form)
    [desk_entry] = await _rows(intake, desk.json()["signal_id"])
    assert (form_entry["activity"], form_entry["operation"]) == ("intake.signal_received", "write")
    assert (form_entry["actor"], form_entry["actor_kind"]) == ("anonymous", "public")
    assert form_entry["categories"] == ["identity", "contact", "concern", "reporter"]
    assert form_entry["purpose"] == "signal_handling"
    assert form_entry["trace_id"] is not None
    assert (desk_entry["actor"], desk_entry["actor_kind"]) == (
        "urn:signaalpunt:staff:balie-3",
        "staff",
    )
    dumped = json.dumps([form_entry, desk_entry], default=str)
    assert not [v for v in planted.values() if v in dumped]
    assert "127.0.0.1" not in dumped

    read = await intake.client.get(
        "/v1/access-log",
        params={"signal_id": by_form},
        headers=_coordinator(intake, "fg-1"),
    )
    assert [e["activity"] for e in read.json()["entries"]] == ["intake.signal_received"]
    after = await _rows(intake, by_form)
    assert [(r["activity"], r["actor"], r["categories"], r["purpose"]) for r in after][-1] == (
        "intake.access_log_read",
        "urn:signaalpunt:staff:fg-1",
        ["processing"],
        "accountability",
    )
    again = await intake.client.get(
        "/v1/access-log", params={"signal_id": by_form}, headers=_coordinator(intake, "fg-2")
    )
    assert again.json()["entries"][0]["actor"] == "urn:signaalpunt:staff:fg-1"


# the signal for the desk and coordinators (`GET /v1/signals/{id}/handling`): the reporter's
# words and contact details decrypted for staff of its municipality only, every view logged

HANDLING_WORDS = "Mijn buurvrouw komt de deur niet meer uit sinds haar man overleed."


async def test_the_desk_reads_the_words_and_the_view_is_logged(intake: RunningIntake) -> None:
    form = {
        "channel": "web_form",
        "reporter": {"kind": "relative_or_neighbour", "phone": "06-12345678", "may_contact": True},
        "subject": {"name": "Mevrouw Jansen", "postcode": "4531 PX", "birth_year": 1940},
        "concern": {"text": HANDLING_WORDS},
    }
    answer = await intake.client.post("/v1/signals", json=form)
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]
    path = f"/v1/signals/{signal_id}/handling"

    seen = await intake.client.get(path, headers=intake.token(roles=("desk",)))

    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["concern"]["text"] == HANDLING_WORDS
    assert body["reporter"]["phone"] == "06-12345678"
    assert body["subject"]["name"] == "Mevrouw Jansen"
    coordinator = intake.token(roles=("coordinator",))
    log = await intake.client.get(
        "/v1/access-log", params={"signal_id": signal_id}, headers=coordinator
    )
    assert ("intake.signal_view", "read", "signal_handling") in [
        (e["activity"], e["operation"], e["purpose"]) for e in log.json()["entries"]
    ]

    # another municipality's staff, a team without the role, a partner: not for them
    other = await intake.client.get(path, headers=intake.token(municipality="GM0677"))
    assert other.status_code == 404
    team = await intake.client.get(path, headers=intake.token(roles=("team",)))
    assert team.status_code == 403
    partner = await intake.client.get(
        path, headers=intake.token(kind="partner", roles=("desk", "coordinator"))
    )
    assert partner.status_code == 403
    unknown = await intake.client.get(
        f"/v1/signals/{uuid4()}/handling", headers=intake.token(roles=("desk",))
    )
    assert unknown.status_code == 404
