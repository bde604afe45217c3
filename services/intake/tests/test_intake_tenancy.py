"""Tenant isolation by the database (issue 17): through intake's own role, a connection scoped to
some municipalities never reads, changes or writes another's stored signals or erasure requests,
even with a query that forgets its municipality; and the whole service runs under that role (the
web form, the desk, the outbox, a coordinator's search, export and four-eyes erasure) while a
coordinator of another municipality finds nothing of it through any route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from intake_harness import RunningIntake, register_partners, running_intake
from signaalpunt_intake import erasure_repository
from signaalpunt_privacy import KEY_STORE_MIGRATIONS
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.tenancy import (
    for_any_tenants,
    mine_and_theirs,
    others,
    scoped_connection,
    service_role_dsn,
)
from test_http_channels import web_form

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrating (owning, superuser) side: plants the rows."""
    await upgrade_async(KEY_STORE_MIGRATIONS[0], database_url, KEY_STORE_MIGRATIONS[1])
    await register_partners(database_url)  # migrates intake too
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's own pool, as the service builds it, connected as the service's role."""
    pool = await create_pool(await service_role_dsn(database_url, "intake"), "intake")
    yield pool
    await pool.close()


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    """One person per entry: a stored signal and an erasure request waiting for approval."""
    await owner.execute("TRUNCATE signals, erasures")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        key = uuid4()
        planted[key] = municipality
        await owner.execute(
            "INSERT INTO signals (signal_id, subject_id, municipality, channel, person_index,"
            " receipt_hash, signal, received_at)"
            " VALUES ($1, $1, $2, 'web_form', 'idx', '\\x00', '{}', now())",
            key,
            municipality,
        )
        await owner.execute(
            "INSERT INTO erasures (erasure_id, municipality, scope, reason, signal_ids,"
            " requested_by, state, requested_at)"
            " VALUES ($1, $2, 'person', 'data_subject_request', ARRAY[$1::uuid], 'x',"
            " 'awaiting_approval', now())",
            key,
            municipality,
        )
    return planted


@for_any_tenants
async def test_a_scoped_connection_never_touches_another_municipalitys_rows(
    owner: asyncpg.Connection,
    service_pool: asyncpg.Pool,
    municipalities: list[str],
    scope: set[str],
) -> None:
    planted = await _plant(owner, municipalities)
    mine, theirs = mine_and_theirs(planted, scope)
    async with scoped_connection(service_pool, scope) as conn:
        # a query that forgets its municipality: the database still filters
        rows = await conn.fetch("SELECT signal_id FROM signals")
        assert {r["signal_id"] for r in rows} == mine
        rows = await conn.fetch("SELECT erasure_id FROM erasures")
        assert {r["erasure_id"] for r in rows} == mine
        # the blind index, asked without a municipality, links to nobody elsewhere
        rows = await conn.fetch("SELECT signal_id FROM signals WHERE person_index = 'idx'")
        assert {r["signal_id"] for r in rows} == mine
        for key in theirs:  # the repository's own read by id
            assert await erasure_repository.get_request(conn, key) is None
        # changes and deletes do not reach them; writes for them are refused
        changed = await conn.execute("UPDATE signals SET handling = 'handled'")
        assert changed == f"UPDATE {len(mine)}"
        assert await conn.execute("DELETE FROM erasures") == f"DELETE {len(mine)}"
        outside = others(scope)
        if outside:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO signals (signal_id, subject_id, municipality, channel,"
                    " receipt_hash, signal, received_at)"
                    " VALUES ($1, $1, $2, 'web_form', '\\x00', '{}', now())",
                    uuid4(),
                    outside[0],
                )
    # nothing of another municipality changed (seen from the owner's side)
    untouched = await owner.fetch(
        "SELECT signal_id FROM signals WHERE handling = 'received'"
        " INTERSECT SELECT erasure_id FROM erasures"
    )
    assert {r["signal_id"] for r in untouched} == theirs


async def test_an_unscoped_connection_of_the_role_sees_nothing(
    owner: asyncpg.Connection, database_url: str
) -> None:
    """A connection nobody scoped (not made by the service's pool) gets no rows at all."""
    await _plant(owner, ["GM0715", "GM0716"])
    dsn = await service_role_dsn(database_url, "intake")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "intake"})
    try:
        assert await conn.fetchval("SELECT count(*) FROM signals") == 0
        assert await conn.fetchval("SELECT count(*) FROM erasures") == 0
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake_as_role(
    owner: asyncpg.Connection,
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningIntake]:
    """The whole service running as its own role (migrated beforehand by the owner, as the
    migration job does in a deployment)."""
    await owner.execute("TRUNCATE signals, erasures")
    role = await service_role_dsn(database_url, "intake")
    keys = tmp_path_factory.mktemp("intake-role-keys")
    async with running_intake(
        infra, kafka_topics, database_url, keys, service_database_url=role
    ) as running:
        yield running


def _coordinator(intake: RunningIntake, who: str, municipality: str = "GM0715") -> dict[str, str]:
    return intake.token(
        roles=("coordinator",),
        subject=f"urn:signaalpunt:staff:{who}",
        municipality=municipality,
    )


async def test_every_endpoint_as_the_service_role_keeps_to_the_callers_municipality(
    intake_as_role: RunningIntake,
) -> None:
    intake = intake_as_role
    tag = uuid4().hex[:8]
    body: dict[str, Any] = web_form()
    body["subject"] = {
        **body["subject"],
        "name": f"Mevrouw Rol-{tag}",
        "postcode": "4531 PX",
        "birth_year": 1941,
    }
    answer = await intake.client.post("/v1/signals", json=body)  # anonymous, under the role
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]
    desk = await intake.client.post(
        "/v1/signals",
        json={**body, "channel": "phone"},
        headers=intake.token(roles=("desk",)),
    )
    assert desk.status_code == 202, desk.text
    search = {"municipality": "GM0715", "name": f"Mevrouw Rol-{tag}", "birth_year": 1941}
    search["postcode"] = "4531PX"
    found = await intake.client.post(
        "/v1/erasures/search", json=search, headers=_coordinator(intake, "rol-1")
    )
    assert found.status_code == 200, found.text
    both = {c["signal_id"] for c in found.json()["candidates"]}
    assert both == {signal_id, desk.json()["signal_id"]}
    export = await intake.client.post(
        "/v1/subject-access/export",
        json={"municipality": "GM0715", "signal_ids": [signal_id]},
        headers=_coordinator(intake, "rol-1"),
    )
    assert export.status_code == 200, export.text
    assert export.json()["signals"][0]["signal"]["subject"]["name"] == f"Mevrouw Rol-{tag}"

    # a coordinator (and desk) of another municipality: nothing through any route
    other = intake.token(
        roles=("coordinator", "desk"),
        subject="urn:signaalpunt:staff:elders",
        municipality="GM0716",
    )
    document = (await intake.management.get("/openapi.json")).json()
    checked = 0
    for template, item in document["paths"].items():
        if "get" not in item:
            continue
        path = template.replace("{signal_id}", signal_id).replace("{erasure_id}", signal_id)
        shown = await intake.client.get(path, headers=other)
        seen = shown.json() if shown.content else None
        if isinstance(seen, dict):
            seen.pop("instance", None)  # a problem names the path asked for, nothing more
        assert signal_id not in json.dumps(seen), (template, shown.status_code)
        assert tag not in json.dumps(seen), (template, shown.status_code)
        checked += 1
    assert checked >= 3
    elsewhere = {**search, "municipality": "GM0716"}
    theirs = await intake.client.post("/v1/erasures/search", json=elsewhere, headers=other)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["candidates"] == []
    by_id = await intake.client.post(
        "/v1/erasures/search",
        json={"municipality": "GM0716", "signal_ids": [signal_id]},
        headers=other,
    )
    assert signal_id not in by_id.text
    exported = await intake.client.post(
        "/v1/subject-access/export",
        json={"municipality": "GM0716", "signal_ids": [signal_id]},
        headers=other,
    )
    assert exported.status_code == 404
    assert tag not in exported.text

    # the four-eyes erasure under the role: requested by one coordinator, approved by another
    asked = await intake.client.post(
        "/v1/erasures",
        json={
            "municipality": "GM0715",
            "signal_ids": sorted(both),
            "scope": "person",
            "reason": "data_subject_request",
        },
        headers=_coordinator(intake, "rol-1"),
    )
    assert asked.status_code == 202, asked.text
    erasure_id = asked.json()["erasure_id"]
    assert (await intake.client.get(f"/v1/erasures/{erasure_id}", headers=other)).status_code == 404
    approved = await intake.client.post(
        f"/v1/erasures/{erasure_id}/approve", headers=_coordinator(intake, "rol-2")
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "done"
    conn = await asyncpg.connect(intake.database_url, server_settings={"search_path": "intake"})
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM signals WHERE signal_id = ANY($1::uuid[])",
            [UUID(s) for s in both],
        )
    finally:
        await conn.close()
    assert left == 0
