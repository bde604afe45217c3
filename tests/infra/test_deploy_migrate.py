"""`make migrate` and `signaalpunt-migrate all` on a fresh database: afterwards every service's
schema and the shared key store exist, at their newest revision."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from signaalpunt_runtime.migrations import discover, grant_schema, upgrade_async
from signaalpunt_testkit.processes import uv

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
# every service that keeps data declares its migrations (the console keeps none)
SERVICES = sorted(
    p.parent.name.replace("-", "_")
    for p in REPO.glob("services/*/pyproject.toml")
    if "signaalpunt.migrations" in p.read_text()
)
KEY_STORE = "subject_keys"


async def _migrated_schemas(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'alembic_version'"
        )
        return {r["table_schema"] for r in rows}
    finally:
        await conn.close()


def _run(command: list[str], dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "SIGNAALPUNT_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


async def test_make_migrate_migrates_every_service_and_the_key_store(database_url: str) -> None:
    assert await _migrated_schemas(database_url) == set()
    # -o: the infrastructure is already up (the fixture made this database on it)
    result = _run(["make", "-s", "-o", "infra-up", "-o", "setup", "migrate"], database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert await _migrated_schemas(database_url) == {*SERVICES, KEY_STORE}


async def test_the_command_is_idempotent_and_names_what_it_migrated(database_url: str) -> None:
    # on the module's database, which the test above migrated already (or not: either works)
    again = _run([uv(), "run", "--frozen", "signaalpunt-migrate", "all"], database_url)
    assert again.returncode == 0, again.stderr
    for schema in (*SERVICES, KEY_STORE):
        assert f"migrating {schema}" in again.stdout
    assert await _migrated_schemas(database_url) == {*SERVICES, KEY_STORE}


async def test_each_service_role_reads_its_own_schema_and_no_other(database_url: str) -> None:
    """`signaalpunt-migrate all --grant`: the role a service runs as gets the rows of its own
    schema (it needs no DDL rights when migrations run as a step of their own), nothing else."""
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    admin = await asyncpg.connect(database_url)
    roles = [prefix + s for s in (*SERVICES, KEY_STORE)]
    try:
        for role in roles:
            await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'role-check'")
        for migration in discover():
            await upgrade_async(migration.path, database_url, migration.schema)
            assert await grant_schema(database_url, migration.schema, prefix + migration.schema)
        tables = {
            r["table_schema"]: r["table_name"]
            for r in await admin.fetch(
                "SELECT table_schema, min(table_name) AS table_name FROM information_schema.tables"
                " WHERE table_schema = ANY($1::text[]) AND table_name <> 'alembic_version'"
                " GROUP BY table_schema",
                [*SERVICES, KEY_STORE],
            )
        }
        as_intake = await asyncpg.connect(
            database_url, user=prefix + "intake", password="role-check"
        )
        try:
            await as_intake.fetchval(f'SELECT count(*) FROM intake."{tables["intake"]}"')
            for other in ("triage", KEY_STORE):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await as_intake.fetchval(f'SELECT count(*) FROM {other}."{tables[other]}"')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_intake.execute("CREATE TABLE intake.not_a_migration (x int)")
        finally:
            await as_intake.close()
    finally:
        for role in roles:
            await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_local_runs_put_each_service_under_its_own_role(database_url: str) -> None:
    """`make run`, `make demo` and `make chaos` ran every service as the cluster's superuser, so
    row-level security and the schema grants held in tests and deployments but not locally. Now
    the schemas are migrated first and each service connects as its role: its own schema only."""
    sys.path.insert(0, str(REPO / "scripts"))
    import run_all

    settings = run_all.as_service_roles({**os.environ, "SIGNAALPUNT_DATABASE_URL": database_url})
    assert await _migrated_schemas(database_url) == {*SERVICES, KEY_STORE}
    for service in SERVICES:
        prefix = f"SIGNAALPUNT_{service.upper()}_"
        assert settings[f"{prefix}MIGRATE_ON_START"] == "false"
        conn = await asyncpg.connect(settings[f"{prefix}DATABASE_URL"])
        try:
            assert await conn.fetchval("SELECT current_user") == service
            assert await conn.fetchval(f'SELECT count(*) FROM "{service}".alembic_version') == 1
            other = next(s for s in SERVICES if s != service)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(f'SELECT count(*) FROM "{other}".alembic_version')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f'CREATE TABLE "{service}".anything (x int)')
        finally:
            await conn.close()
        keys = await asyncpg.connect(settings[f"{prefix}KEY_STORE_DATABASE_URL"])
        try:
            assert await keys.fetchval("SELECT current_user") == KEY_STORE
        finally:
            await keys.close()
