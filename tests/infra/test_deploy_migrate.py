"""`make migrate` and `signaalpunt-migrate all` on a fresh database: afterwards every service's
schema and the shared key store exist, at their newest revision."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name.replace("-", "_") for p in REPO.glob("services/*/pyproject.toml"))
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
    first = _run(["uv", "run", "--frozen", "signaalpunt-migrate", "all"], database_url)
    second = _run(["uv", "run", "--frozen", "signaalpunt-migrate", "all"], database_url)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for schema in (*SERVICES, KEY_STORE):
        assert schema in second.stdout
    assert await _migrated_schemas(database_url) == {*SERVICES, KEY_STORE}
