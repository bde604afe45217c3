"""Tenant isolation by the database (issue 17): through the matching service's own role, a
connection scoped to some municipalities never reads, changes or writes another's volunteers,
requests or matches, even with a query that forgets its municipality; and the whole service runs
under that role (consumer, watchers' claims, answer links, staff API) while staff of another
municipality see nothing of it through any route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from matching_harness import RunningMatching, running_matching, volunteer
from signaalpunt_contracts import (
    MatchStatus,
)
from signaalpunt_matching import repository as repo
from signaalpunt_matching.main import MIGRATIONS
from signaalpunt_privacy import (
    KEY_STORE_MIGRATIONS,
)
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

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrating (owning, superuser) side: plants the rows."""
    await upgrade_async(KEY_STORE_MIGRATIONS[0], database_url, KEY_STORE_MIGRATIONS[1])
    await upgrade_async(MIGRATIONS, database_url, "matching")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "matching"})
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_pool(owner: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's own pool, as the service builds it, connected as the service's role."""
    pool = await create_pool(await service_role_dsn(database_url, "matching"), "matching")
    yield pool
    await pool.close()


async def _plant(owner: asyncpg.Connection, municipalities: list[str]) -> dict[UUID, str]:
    """One person per entry: a volunteer, a match request and a proposal (all the same id)."""
    await owner.execute("TRUNCATE volunteers, match_requests, matches CASCADE")
    planted: dict[UUID, str] = {}
    for municipality in municipalities:
        key = uuid4()
        planted[key] = municipality
        await owner.execute(
            "INSERT INTO volunteers (volunteer_id, municipality, status, skills, languages,"
            " postcode_area, lat, lon, max_travel_km, max_matches, load, first_name)"
            " VALUES ($1, $2, 'active', '{visits}', '{nl}', '4531', 51.33, 3.83, 10, 2, 1,"
            " 'pd1.x')",
            key,
            municipality,
        )
        await owner.execute(
            "INSERT INTO match_requests (match_request_id, signal_id, subject_id, municipality,"
            " needs, languages, start_on, requested_at)"
            " VALUES ($1, $1, $1, $2, '{buddy}', '{nl}', current_date, now())",
            key,
            municipality,
        )
        await owner.execute(
            "INSERT INTO matches (match_id, match_request_id, volunteer_id, municipality, status,"
            " version, attempt, score, reasons, created_at, updated_at)"
            " VALUES ($1, $1, $1, $2, 'proposed', 1, 1, 50, '{}', now(), now())",
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
        for table, column in (
            ("volunteers", "volunteer_id"),
            ("match_requests", "match_request_id"),
            ("matches", "match_id"),
        ):
            rows = await conn.fetch(f"SELECT {column} FROM {table}")
            assert {r[column] for r in rows} == mine, table
        for key in theirs:  # the repository's own reads by id
            assert await repo.get_volunteer(conn, key) is None
            assert await repo.get_request(conn, key) is None
            assert await repo.get_match(conn, key) is None
        # changes and deletes do not reach them; writes for them are refused
        changed = await conn.execute("UPDATE volunteers SET status = 'paused'")
        assert changed == f"UPDATE {len(mine)}"
        assert await conn.execute("DELETE FROM matches") == f"DELETE {len(mine)}"
        outside = others(scope)
        if outside:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO match_requests (match_request_id, signal_id, subject_id,"
                    " municipality, needs, languages, start_on, requested_at)"
                    " VALUES ($1, $1, $1, $2, '{buddy}', '{nl}', current_date, now())",
                    uuid4(),
                    outside[0],
                )
    # nothing of another municipality changed (seen from the owner's side)
    untouched = await owner.fetch(
        "SELECT volunteer_id FROM volunteers WHERE status = 'active'"
        " INTERSECT SELECT match_id FROM matches"
    )
    assert {r["volunteer_id"] for r in untouched} == theirs


async def test_an_unscoped_connection_of_the_role_sees_nothing(
    owner: asyncpg.Connection, database_url: str
) -> None:
    """A connection nobody scoped (not made by the service's pool) gets no rows at all."""
    await _plant(owner, ["GM0715", "GM0716"])
    dsn = await service_role_dsn(database_url, "matching")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "matching"})
    try:
        for table in ("volunteers", "match_requests", "matches"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matching_as_role(
    owner: asyncpg.Connection,
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningMatching]:
    """The whole service running as its own role (migrated beforehand by the owner, as the
    migration job does in a deployment)."""
    await owner.execute("TRUNCATE volunteers, match_requests, matches CASCADE")
    role = await service_role_dsn(database_url, "matching")
    keys = tmp_path_factory.mktemp("matching-role-keys")
    async with running_matching(
        infra, kafka_topics, database_url, keys, service_database_url=role
    ) as running:
        yield running


async def test_every_endpoint_as_the_service_role_keeps_to_the_callers_municipality(
    matching_as_role: RunningMatching,
) -> None:
    matching = matching_as_role
    [vid] = await matching.volunteers(volunteer(first_name="Rolvast", languages=["nl"]))
    sent = await matching.request(languages=["nl"], first_name="Mien")
    [proposed] = await matching.about(sent.data.signal_id)  # the consumer, under the role
    assert proposed.volunteer_id == vid
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    shown = await matching.client.get(f"/v1/matching/answers/{token}")  # no token: the link
    assert shown.status_code == 200, shown.text
    accepted = await matching.client.post(
        f"/v1/matching/answers/{token}", json={"answer": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    mine = await matching.client.get("/v1/matching/matches", headers=matching.staff())
    assert [m["status"] for m in mine.json()] == [MatchStatus.ACCEPTED.value]
    assert proposed.match_id is not None
    planted = {
        "volunteer_id": str(vid),
        "match_id": str(proposed.match_id),
        "match_request_id": str(sent.data.match_request_id),
        "signal_id": str(sent.data.signal_id),
        "token": token,
    }

    other = matching.staff(
        "coordinator", "volunteer_coordinator", "social_worker", municipality="GM0716"
    )
    document = (await matching.management.get("/openapi.json")).json()
    checked = 0
    for template, item in document["paths"].items():
        if "get" not in item or "{token}" in template:
            continue
        path = template
        for name, value in planted.items():
            path = path.replace("{" + name + "}", value)
        answer = await matching.client.get(path, headers=other)
        body = answer.json() if answer.content else None
        if isinstance(body, dict):
            body.pop("instance", None)  # a problem names the path asked for, nothing more
        for value in planted.values():
            assert value not in json.dumps(body), (template, answer.status_code)
        assert str(sent.data.signal_id) not in json.dumps(body), template
        checked += 1
    assert checked >= 8

    # erasure under the role: the volunteer's (staff scope) and a person's (the consumer)
    gone = await matching.client.post(
        f"/v1/matching/volunteers/{vid}/erasure",
        json={"reason": "data_subject_request"},
        headers=matching.staff("coordinator"),
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["matches_ended"] == 1
    ended = await matching.about(sent.data.signal_id, count=3)
    assert ended[-1].status is MatchStatus.ENDED
