"""Erasure is final: after an erasure and a key-generation rotation, nothing taken before it
(a pg_dump, a copy of the table's files as in a base backup, the WAL segments) yields a key that
opens the erased person's values, while everyone else's still open (issue 17)."""

from __future__ import annotations

import asyncio
import glob
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_privacy import (
    KeyEncryptionKeys,
    PersonalDataVault,
    PostgresSubjectKeyStore,
    SubjectErasedError,
)
from signaalpunt_privacy.keys import MIGRATIONS, SCHEMA
from signaalpunt_privacy.keys_cli import app
from signaalpunt_runtime.migrations import upgrade_async
from typer.testing import CliRunner

OLD = KeyEncryptionKeys.generate_spec("gen-2026-11")
NEW = KeyEncryptionKeys.generate_spec("gen-2026-12")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await upgrade_async(MIGRATIONS, database_url, SCHEMA)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


def _pg_dump(database_url: str) -> str:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    assert binaries, "pg_dump (Debian's postgresql package) is needed for this test"
    return subprocess.run(
        [binaries[-1], "--schema", SCHEMA, "--data-only", database_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _dumped_keys(dump: str, subject: UUID) -> list[tuple[str, bytes]]:
    """(kek id, wrapped key) of the subject's rows in a plain-format dump."""
    found = []
    for line in dump.splitlines():
        columns = line.split("\t")
        if len(columns) >= 4 and columns[0] == str(subject):
            found.append((columns[2], bytes.fromhex(columns[3].removeprefix("\\\\x"))))
    return found


def _opens(keks: KeyEncryptionKeys, kek_id: str, wrapped: bytes, subject: UUID) -> bool:
    try:
        keks.unwrap(kek_id, wrapped, subject)
    except Exception:  # any failure means: this copy does not open
        return False
    return True


async def test_nothing_taken_before_an_erasure_opens_after_the_rotation(
    pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    before = PersonalDataVault(PostgresSubjectKeyStore(pool, KeyEncryptionKeys.from_spec(OLD)))
    erased, kept = uuid4(), uuid4()
    sealed = await before.seal(erased, "GM0715", "Mevrouw Planted-Final", field="subject.name")
    other = await before.seal(kept, "GM0715", "Meneer Blijft", field="subject.name")
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT kek_id, wrapped_key FROM subject_keys.data_keys WHERE subject_id = $1", erased
        )
        assert row is not None
        await conn.execute("CHECKPOINT")
        data_directory = Path(await conn.fetchval("SHOW data_directory"))
        heap = data_directory / await conn.fetchval(
            "SELECT pg_relation_filepath('subject_keys.data_keys')"
        )
    wrapped = bytes(row["wrapped_key"])
    # what a backup holds: a dump and the table's files, taken before the erasure
    dump = _pg_dump(database_url)
    base_backup = heap.read_bytes()
    assert _dumped_keys(dump, erased) == [(row["kek_id"], wrapped)]
    assert wrapped in base_backup

    assert await before.erase(erased, reason="data_subject_request")
    # the rotation: a new generation first, every surviving key re-wrapped, the old one destroyed
    rotating = PostgresSubjectKeyStore(pool, KeyEncryptionKeys.from_spec(f"{NEW},{OLD}"))
    while await rotating.rewrap():
        pass
    now = KeyEncryptionKeys.from_spec(NEW)
    after = PersonalDataVault(PostgresSubjectKeyStore(pool, now))
    assert await after.open(kept, other, field="subject.name") == "Meneer Blijft"
    with pytest.raises(SubjectErasedError):
        await after.open(erased, sealed, field="subject.name")

    # the recovery attempt, with everything the system is configured with now
    wal = b"".join(
        p.read_bytes() for p in sorted((data_directory / "pg_wal").iterdir()) if p.is_file()
    )
    copies = [*_dumped_keys(dump, erased)]
    if wrapped in base_backup:
        copies.append((row["kek_id"], wrapped))
    if wrapped in wal:  # the INSERT's WAL record carries the wrapped key as it was
        copies.append((row["kek_id"], wrapped))
    assert copies
    assert not any(_opens(now, kek_id, w, erased) for kek_id, w in copies)
    # nor under any generation that is configured now, whatever id a copy claims
    assert not any(_opens(now, kek_id, wrapped, erased) for kek_id, _ in now.keys)


def test_the_keys_cli_rotates_and_says_when_the_old_generation_may_go(
    pool: asyncpg.Pool, database_url: str
) -> None:
    older = KeyEncryptionKeys.generate_spec("gen-cli-old")
    newer = KeyEncryptionKeys.generate_spec("gen-cli-new")

    async def three_keys() -> None:
        own = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        assert own is not None
        store = PostgresSubjectKeyStore(own, KeyEncryptionKeys.from_spec(older))
        await store.store_new_keys([store.new_data_key(uuid4(), "GM0715")[1] for _ in range(3)])
        await own.close()

    asyncio.run(three_keys())  # the CLI runs its own event loop, as from a shell
    runner = CliRunner()
    both = f"{newer},{older},{NEW}"  # NEW: the keys of the test before

    def status(keks: str) -> dict[str, str]:
        result = runner.invoke(
            app, ["status", "--database-url", database_url, "--keks", keks], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        return {line.split()[0]: line for line in result.output.splitlines() if line.strip()}

    assert status(both)["gen-cli-old"].split()[1] == "3"
    rewrapped = runner.invoke(app, ["rewrap", "--database-url", database_url, "--keks", both])
    assert rewrapped.exit_code == 0, rewrapped.output
    lines = status(both)
    assert "wraps none" in lines["gen-cli-old"]
    assert lines["gen-cli-new"].split()[1] != "0"
    assert "NOT CONFIGURED" not in "".join(status(newer).values())
