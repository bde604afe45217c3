"""Tenant isolation by the database (issue 17): through triage's own role, a connection scoped
to some municipalities never reads, changes or writes another's cases, decisions, steps or locks,
even with a query that forgets its municipality; and triage runs under that role."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_privacy import (
    KEY_STORE_MIGRATIONS,
)
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.tenancy import (
    for_any_tenants,
    mine_and_theirs,
    scoped_connection,
    service_role_dsn,
)
from signaalpunt_triage import repository
from signaalpunt_triage.main import MIGRATIONS
from triage_harness import RunningTriage, running_triage

PER_CASE = ("decisions", "steps", "edit_locks")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrating (owning, superuser) side: plants the rows."""
    await upgrade_async(KEY_STORE_MIGRATIONS[0], database_url, KEY_STORE_MIGRATIONS[1])
    await upgrade_async(MIGRATIONS, database_url, "triage")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "triage"})
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await service_role_dsn(database_url, "triage"), "triage")
    yield pool
    await pool.close()


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    """One case per entry, with a decision, a step and a lock."""
    await owner.execute("TRUNCATE cases, decisions, steps, edit_locks CASCADE")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        signal_id = uuid4()
        planted[signal_id] = municipality
        await owner.execute(
            "INSERT INTO cases (signal_id, subject_id, municipality, channel, received_at, state,"
            " route, priority, needs_review, explanation, decision, decided_by, rules_version,"
            " first_contact_due) VALUES ($1, $1, $2, 'web', now(), 'new', 'team_welzijn',"
            " 'normal', false, '{}', 1, 'rules', 'v1', now())",
            signal_id,
            municipality,
        )
        await owner.execute(
            "INSERT INTO decisions (signal_id, decision, route, priority, risk_groups,"
            " needs_review, decided_by, rules_version, decided_at)"
            " VALUES ($1, 1, 'team_welzijn', 'normal', '{}', false, 'rules', 'v1', now())",
            signal_id,
        )
        await owner.execute(
            "INSERT INTO steps (signal_id, seq, step, previous_state, state, recorded_by,"
            " recorded_at) VALUES ($1, 1, 'note', 'new', 'new', 'x', now())",
            signal_id,
        )
        await owner.execute(
            "INSERT INTO edit_locks (signal_id, holder, expires_at) VALUES ($1, 'x', now())",
            signal_id,
        )
    return planted


@for_any_tenants
async def test_a_scoped_connection_never_touches_another_municipalitys_cases(
    owner: asyncpg.Connection,
    service_pool: asyncpg.Pool,
    municipalities: list[str],
    scope: set[str],
) -> None:
    planted = await _plant(owner, municipalities)
    mine, theirs = mine_and_theirs(planted, scope)
    async with scoped_connection(service_pool, scope) as conn:
        for table in ("cases", *PER_CASE):
            rows = await conn.fetch(f"SELECT signal_id FROM {table}")
            assert {r["signal_id"] for r in rows} == mine, table
        for signal_id in theirs:
            assert await repository.was_erased(conn, signal_id) is False
            assert (
                await conn.fetchrow("SELECT * FROM cases WHERE signal_id = $1", signal_id) is None
            )
        assert await conn.execute("UPDATE cases SET state = 'closed'") == (f"UPDATE {len(mine)}")
        assert await conn.execute("DELETE FROM edit_locks") == f"DELETE {len(mine)}"
        for signal_id in list(theirs)[:1]:  # a step on another's case is refused
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO steps (signal_id, seq, step, previous_state, state,"
                    " recorded_by, recorded_at) VALUES ($1, 2, 'note', 'new', 'new', 'x',"
                    " now())",
                    signal_id,
                )
    untouched = await owner.fetch(
        "SELECT signal_id FROM cases WHERE state = 'new' INTERSECT SELECT signal_id FROM edit_locks"
    )
    assert {r["signal_id"] for r in untouched} == theirs


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triage_as_role(
    owner: asyncpg.Connection,
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningTriage]:
    """Triage running as its own role (migrated beforehand by the owner)."""
    role = await service_role_dsn(database_url, "triage")
    keys = tmp_path_factory.mktemp("triage-role-keys")
    async with running_triage(
        infra, kafka_topics, database_url, keys, service_database_url=role
    ) as running:
        yield running


async def test_every_endpoint_as_the_service_role_keeps_to_the_callers_municipality(
    triage_as_role: RunningTriage,
) -> None:
    triage = triage_as_role
    sent = await triage.send("Woont alleen, Planted-Tenant")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)  # the consumer and the API, under the role
    path = f"/v1/triage/signals/{signal_id}"
    decided = await triage.client.post(
        f"{path}/decisions", headers=triage.token(), json={"priority": "high", "reason": "belde"}
    )
    assert decided.status_code == 200, decided.text

    other = triage.token(roles=("coordinator", "desk", "team"), municipality="GM0716")
    document = (await triage.management.get("/openapi.json")).json()
    checked = 0
    for template, item in document["paths"].items():
        if "get" not in item:
            continue
        concrete = template.replace("{signal_id}", str(signal_id))
        if "{" in concrete:
            continue
        answer = await triage.client.get(concrete, headers=other)
        shown = answer.json() if answer.content else None
        if isinstance(shown, dict):
            shown.pop("instance", None)  # a problem names the path asked for, nothing more
        assert str(signal_id) not in json.dumps(shown), (template, answer.status_code)
        checked += 1
    assert checked >= 2
