"""Tenant isolation by the database (issue 17): through the referral service's own role, a
connection scoped to some municipalities never reads, changes or writes another's rows, even with
a query that forgets its municipality; and the service runs under that role."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from referral_harness import RunningReferral, running_referral
from signaalpunt_privacy import (
    KEY_STORE_MIGRATIONS,
)
from signaalpunt_referral import repository as repo
from signaalpunt_referral.main import MIGRATIONS
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
from test_referral_flow import import_map, one_service_map

SERVICE_ID, ORGANISATION_ID = uuid4(), uuid4()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrating (owning, superuser) side: plants the rows."""
    await upgrade_async(KEY_STORE_MIGRATIONS[0], database_url, KEY_STORE_MIGRATIONS[1])
    await upgrade_async(MIGRATIONS, database_url, "referral")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "referral"})
    await conn.execute(
        "INSERT INTO organisations (organisation_id, name, document) VALUES ($1, 'Org', '{}')",
        ORGANISATION_ID,
    )
    await conn.execute(
        "INSERT INTO services (service_id, organisation_id, name, status, areas, needs,"
        " delivery, channel, document) VALUES ($1, $2, 'Aanbod', 'active', '{}', '{}', '{}',"
        " 'api', '{}')",
        SERVICE_ID,
        ORGANISATION_ID,
    )
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's own pool, as the service builds it, connected as the service's role."""
    pool = await create_pool(await service_role_dsn(database_url, "referral"), "referral")
    yield pool
    await pool.close()


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    """One person per entry: a help question, a referral with its history, a gap."""
    await owner.execute("TRUNCATE help_questions, referrals, referral_history, gaps CASCADE")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        signal_id = uuid4()
        planted[signal_id] = municipality
        await owner.execute(
            "INSERT INTO help_questions (signal_id, subject_id, municipality, route, question,"
            " recorded_at, recorded_by) VALUES ($1, $1, $2, 'team_welzijn', '{}', now(), 'x')",
            signal_id,
            municipality,
        )
        await owner.execute(
            "INSERT INTO referrals (referral_id, signal_id, subject_id, municipality, service_id,"
            " organisation_id, service_name, status, version, channel, created_at, updated_at)"
            " VALUES ($1, $1, $1, $2, $3, $4, 'Aanbod', 'proposed', 1, 'api', now(), now())",
            signal_id,
            municipality,
            SERVICE_ID,
            ORGANISATION_ID,
        )
        await owner.execute(
            "INSERT INTO referral_history (referral_id, version, status, changed_by, changed_at)"
            " VALUES ($1, 1, 'proposed', 'x', now())",
            signal_id,
        )
        await owner.execute(
            "INSERT INTO gaps (signal_id, need, municipality, reason, detected_at)"
            " VALUES ($1, 'buddy', $2, 'no_offer', now())",
            signal_id,
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
        for table in ("help_questions", "referrals", "gaps"):
            rows = await conn.fetch(f"SELECT signal_id, municipality FROM {table}")
            assert {r["signal_id"] for r in rows} == mine, table
        history = await conn.fetch("SELECT referral_id FROM referral_history")
        assert {r["referral_id"] for r in history} == mine
        for signal_id in theirs:  # the repository's own reads by id
            assert await repo.get_help_question(conn, signal_id) is None
            assert await repo.referrals_of(conn, signal_id) == []
        # changes and deletes do not reach them; writes for them are refused
        changed = await conn.execute("UPDATE referrals SET status = 'withdrawn'")
        assert changed == f"UPDATE {len(mine)}"
        assert await conn.execute("DELETE FROM gaps") == f"DELETE {len(mine)}"
        outside = others(scope)
        if outside:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO gaps (signal_id, need, municipality, reason, detected_at)"
                    " VALUES ($1, 'buddy', $2, 'no_offer', now())",
                    uuid4(),
                    outside[0],
                )
    # nothing of another municipality changed (seen from the owner's side)
    untouched = await owner.fetch(
        "SELECT signal_id FROM referrals WHERE status = 'proposed'"
        " INTERSECT SELECT signal_id FROM gaps"
    )
    assert {r["signal_id"] for r in untouched} == theirs


async def test_an_unscoped_connection_of_the_role_sees_nothing(
    owner: asyncpg.Connection, database_url: str
) -> None:
    """A connection nobody scoped (not made by the service's pool) gets no rows at all."""
    await _plant(owner, ["GM0715", "GM0716"])
    dsn = await service_role_dsn(database_url, "referral")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "referral"})
    try:
        assert await conn.fetchval("SELECT count(*) FROM help_questions") == 0
        assert await conn.fetchval("SELECT count(*) FROM referrals") == 0
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def referral_as_role(
    owner: asyncpg.Connection,
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningReferral]:
    """The whole service running as its own role (migrated beforehand by the owner, as the
    migration job does in a deployment)."""
    role = await service_role_dsn(database_url, "referral")
    keys = tmp_path_factory.mktemp("referral-role-keys")
    async with running_referral(
        infra, kafka_topics, database_url, keys, service_database_url=role, send_webhooks=True
    ) as running:
        yield running


async def test_every_endpoint_as_the_service_role_keeps_to_the_callers_municipality(
    referral_as_role: RunningReferral,
) -> None:
    referral = referral_as_role
    await import_map(referral, one_service_map("Koffie-ochtend", "buddy", 4))
    sent = await referral.help_question(needs=("buddy", "carer_relief"), text="Planted-Tenant")
    signal_id = sent.data.signal_id
    body = await referral.proposals(signal_id)  # the consumer and the API, under the role
    rid = body["referrals"][0]["referral_id"]
    shipped = await referral.client.post(
        f"/v1/referral/referrals/{rid}/send", headers=referral.staff()
    )
    assert shipped.status_code == 200, shipped.text

    other = referral.staff("coordinator", "team", "desk", municipality="GM0716")
    document = (await referral.management.get("/openapi.json")).json()
    samples = {"signal_id": str(signal_id), "referral_id": rid}
    checked = 0
    for template, item in document["paths"].items():
        if "get" not in item:
            continue
        path = template
        for name, value in samples.items():
            path = path.replace("{" + name + "}", value)
        if "{" in path:
            path = template.split("{")[0].rstrip("/") or template
        answer = await referral.client.get(path, headers=other)
        shown = answer.json() if answer.content else None
        if isinstance(shown, dict):
            shown.pop("instance", None)  # a problem names the path asked for, nothing more
        assert str(signal_id) not in json.dumps(shown), (template, answer.status_code)
        assert rid not in json.dumps(shown), (template, answer.status_code)
        checked += 1
    assert checked >= 5
