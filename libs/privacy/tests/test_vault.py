"""Per-subject encryption on the real PostgreSQL: sealing, shredding, rotation, blind indexes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_privacy import (
    BlindIndex,
    KeyEncryptionKeys,
    PersonalDataVault,
    PostgresSubjectKeyStore,
    SubjectErasedError,
    TamperedError,
    UnknownSubjectError,
)
from signaalpunt_privacy.keys import MIGRATIONS, SCHEMA
from signaalpunt_runtime.migrations import upgrade_async

KEKS = KeyEncryptionKeys.from_spec(KeyEncryptionKeys.generate_spec("kek-2026"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await upgrade_async(MIGRATIONS, database_url, SCHEMA)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=8)
    assert pool is not None
    yield pool
    await pool.close()


def vault(pool: asyncpg.Pool, keks: KeyEncryptionKeys = KEKS) -> PersonalDataVault:
    return PersonalDataVault(PostgresSubjectKeyStore(pool, keks))


async def test_sealed_values_open_only_for_their_subject_and_field(pool: asyncpg.Pool) -> None:
    v = vault(pool)
    subject, other = uuid4(), uuid4()
    sealed = await v.seal(subject, "GM0715", "Mevrouw J. de Vries", field="subject.name")
    assert "Vries" not in sealed
    assert sealed != await v.seal(subject, "GM0715", "Mevrouw J. de Vries", field="subject.name")
    assert await v.open(subject, sealed, field="subject.name") == "Mevrouw J. de Vries"
    await v.seal(other, "GM0715", "iemand anders", field="subject.name")
    with pytest.raises(TamperedError):
        await v.open(other, sealed, field="subject.name")
    with pytest.raises(TamperedError):
        await v.open(subject, sealed, field="reporter.name")
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(TamperedError):
        await v.open(subject, flipped, field="subject.name")


async def test_an_opener_opens_a_batch_of_subjects_as_open_does(pool: asyncpg.Pool) -> None:
    """A batch's values opened with its keys fetched together: the same texts, and the same
    refusals per subject (erased, never keyed, another's value, not asked for)."""
    v = vault(pool)
    first, second, erased, never = uuid4(), uuid4(), uuid4(), uuid4()
    sealed = {
        s: await v.seal(s, "GM0715", f"zorgen om {n}", field="concern.text")
        for n, s in enumerate((first, second, erased))
    }
    assert await v.erase(erased, reason="verzoek betrokkene (AVG art. 17)")
    opener = await v.opener([first, second, erased, never, first])
    assert opener.open(first, sealed[first], field="concern.text") == "zorgen om 0"
    assert opener.open(second, sealed[second], field="concern.text") == "zorgen om 1"
    with pytest.raises(SubjectErasedError):
        opener.open(erased, sealed[erased], field="concern.text")
    with pytest.raises(UnknownSubjectError):
        opener.open(never, sealed[first], field="concern.text")
    with pytest.raises(TamperedError):
        opener.open(second, sealed[first], field="concern.text")
    with pytest.raises(TamperedError):
        opener.open(first, sealed[first], field="subject.name")
    with pytest.raises(TamperedError):
        opener.open(first, "pd1.niet-base64!", field="concern.text")
    not_asked = await v.opener([second])
    with pytest.raises(UnknownSubjectError):
        not_asked.open(first, sealed[first], field="concern.text")
    nobody = await v.opener([])
    with pytest.raises(UnknownSubjectError):
        nobody.open(first, sealed[first], field="concern.text")


async def test_the_key_table_holds_no_usable_key(pool: asyncpg.Pool) -> None:
    v = vault(pool)
    subject = uuid4()
    await v.seal(subject, "GM0715", "06-12345678", field="subject.phone")
    wrapped = await pool.fetchval(
        f"SELECT wrapped_key FROM {SCHEMA}.data_keys WHERE subject_id = $1", subject
    )
    key = await PostgresSubjectKeyStore(pool, KEKS).existing_data_key(subject)
    assert len(key) == 32
    assert key not in bytes(wrapped), "only the wrapped key is stored"


async def test_erasure_shreds_every_copy(pool: asyncpg.Pool) -> None:
    v = vault(pool)
    subject = uuid4()
    copies = [
        await v.seal(subject, "GM0715", "Dorpsstraat 1", field="subject.address") for _ in range(3)
    ]
    assert await v.erase(subject, reason="verzoek betrokkene (AVG art. 17)")
    for sealed in copies:
        with pytest.raises(SubjectErasedError):
            await v.open(subject, sealed, field="subject.address")
    with pytest.raises(SubjectErasedError):
        await v.seal(subject, "GM0715", "nieuw adres", field="subject.address")
    assert not await v.erase(subject, reason="twice")
    erasure = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.erasures WHERE subject_id = $1", subject)
    assert erasure is not None
    assert erasure["reason"] == "verzoek betrokkene (AVG art. 17)"
    with pytest.raises(UnknownSubjectError):
        await v.open(uuid4(), copies[0], field="subject.address")


async def test_concurrent_first_use_gives_one_key(pool: asyncpg.Pool) -> None:
    store = PostgresSubjectKeyStore(pool, KEKS)
    subject = uuid4()
    keys = await asyncio.gather(*(store.data_key(subject, "GM0715") for _ in range(8)))
    assert len(set(keys)) == 1


async def test_key_rotation_keeps_old_data_readable(pool: asyncpg.Pool) -> None:
    subject = uuid4()
    old = vault(pool)
    sealed = await old.seal(subject, "GM0715", "Anna", field="subject.name")
    rotated = KeyEncryptionKeys.from_spec(
        KeyEncryptionKeys.generate_spec("kek-2027")
        + ","
        + "kek-2026:"
        + base64.b64encode(dict(KEKS.keys)["kek-2026"]).decode()
    )
    assert await vault(pool, rotated).open(subject, sealed, field="subject.name") == "Anna"
    assert await PostgresSubjectKeyStore(pool, rotated).rewrap() >= 1
    kek_id = await pool.fetchval(
        f"SELECT kek_id FROM {SCHEMA}.data_keys WHERE subject_id = $1", subject
    )
    assert kek_id == "kek-2027"
    new_only = KeyEncryptionKeys(keys=(rotated.keys[0],))
    assert await vault(pool, new_only).open(subject, sealed, field="subject.name") == "Anna"


def test_bad_kek_configuration_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyEncryptionKeys.from_spec("k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="id:base64key"):
        KeyEncryptionKeys.from_spec("no-colon-here")
    with pytest.raises(ValueError, match="no key-encryption key"):
        KeyEncryptionKeys.from_spec(" , ")


def test_blind_index_matches_spelling_variants_and_needs_the_key() -> None:
    index = BlindIndex(b"k" * 32)
    a = index.person("Jànssen,  P.", 1948, "4531 ab")
    b = index.person("janssen p", 1948, "4531AB")
    assert a == b
    assert a != index.person("janssen p", 1949, "4531AB")
    assert a != BlindIndex(b"x" * 32).person("janssen p", 1948, "4531AB")
    assert "janssen" not in a
