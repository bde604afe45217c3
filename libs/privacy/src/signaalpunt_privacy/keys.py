"""Key-encryption keys and the subject key store.

Envelope encryption: every subject (the person a signal is about, or a reporter) has a data key of
their own; the data key is stored only *wrapped* by a key-encryption key (KEK) that comes from
configuration (a KMS or Vault transit key in production). Erasure is crypto-shredding: deleting the
subject's wrapped data key makes every copy of their data unreadable, in Kafka, in backups and in
every service's tables.

The key store is the one piece of state several services read. It lives in a schema of its own
(`subject_keys`) and is reached only through this module; `SubjectKeyStore` is the interface a
KMS- or Vault-backed store implements.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "subject_keys"
_KEK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SubjectErasedError(LookupError):
    """The subject's data key was shredded: their personal data can no longer be read."""


class UnknownSubjectError(LookupError):
    """No data key was ever made for this subject."""


@dataclass(frozen=True)
class KeyEncryptionKeys:
    """The configured KEKs; the first wraps new data keys, all of them unwrap (key rotation).

    Configured as `id:base64key[,id:base64key…]` with 32-byte (AES-256) keys, e.g. from
    `SIGNAALPUNT_KEK`. `generate_spec()` makes one for development.
    """

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_spec(cls, spec: str) -> KeyEncryptionKeys:
        keys = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            kek_id, _, encoded = part.partition(":")
            if not _KEK_ID.match(kek_id) or not encoded:
                raise ValueError("a KEK is configured as id:base64key (id: letters, digits, ._-)")
            key = base64.b64decode(encoded, validate=True)
            if len(key) != 32:
                raise ValueError(f"KEK {kek_id} must be 32 bytes (AES-256), not {len(key)}")
            keys.append((kek_id, key))
        if not keys:
            raise ValueError("no key-encryption key configured")
        return cls(tuple(keys))

    @staticmethod
    def generate_spec(kek_id: str = "dev") -> str:
        return f"{kek_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"

    @property
    def active_id(self) -> str:
        return self.keys[0][0]

    @cached_property
    def _wrapping(self) -> tuple[str, AESGCM]:
        kek_id, kek = self.keys[0]
        return kek_id, AESGCM(kek)  # made once: every new subject's key is wrapped with it

    def wrap(self, data_key: bytes, subject_id: UUID) -> tuple[str, bytes]:
        kek_id, aes = self._wrapping
        nonce = os.urandom(12)
        # the subject id is authenticated data: a wrapped key cannot be moved to another subject
        return kek_id, nonce + aes.encrypt(nonce, data_key, subject_id.bytes)

    def unwrap(self, kek_id: str, wrapped: bytes, subject_id: UUID) -> bytes:
        kek = dict(self.keys).get(kek_id)
        if kek is None:
            raise LookupError(f"key-encryption key {kek_id!r} is not configured")
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], subject_id.bytes)


@dataclass(frozen=True)
class NewDataKey:
    """A new subject's data key, wrapped, not yet stored (see `SubjectKeyStore.new_data_key`)."""

    subject_id: UUID
    municipality: str
    kek_id: str
    wrapped_key: bytes = field(repr=False)


class SubjectKeyStore(Protocol):
    """Where data keys live. A KMS or Vault transit backend implements the same calls."""

    def new_data_key(self, subject_id: UUID, municipality: str) -> tuple[bytes, NewDataKey]:
        """A data key for a subject that is new (its id made just now), without I/O: the key
        itself and its wrapped form, which `store_new_keys` must store before anything sealed
        with the key is committed anywhere."""
        ...

    async def store_new_keys(self, keys: Sequence[NewDataKey]) -> None:
        """Store new subjects' wrapped keys, all in one statement. Raises when a subject has a
        key already: a subject id from `new_data_key` must be new."""
        ...

    async def data_key(self, subject_id: UUID, municipality: str) -> bytes:
        """The subject's data key, made on first use. Raises SubjectErasedError after erasure."""
        ...

    async def existing_data_key(self, subject_id: UUID) -> bytes:
        """The subject's data key; SubjectErasedError or UnknownSubjectError when there is none."""
        ...

    async def existing_data_keys(self, subject_ids: Collection[UUID]) -> SubjectKeys:
        """Several subjects' data keys in one round trip, with which of the others were erased
        (a subject in neither has no key: unknown)."""
        ...

    async def shred(self, subject_id: UUID, *, reason: str) -> bool:
        """Delete the subject's data key for good; True when there was one."""
        ...


@dataclass(frozen=True)
class SubjectKeys:
    """What `existing_data_keys` found: the data keys, and the subjects erased."""

    keys: dict[UUID, bytes] = field(repr=False)
    erased: frozenset[UUID]

    def key(self, subject_id: UUID) -> bytes:
        """The subject's key; SubjectErasedError or UnknownSubjectError as `existing_data_key`."""
        found = self.keys.get(subject_id)
        if found is not None:
            return found
        if subject_id in self.erased:
            raise SubjectErasedError(f"subject {subject_id} was erased")
        raise UnknownSubjectError(f"no data key for subject {subject_id}")


class PostgresSubjectKeyStore:
    """The key store on PostgreSQL (schema `subject_keys`), keys wrapped by the configured KEKs."""

    def __init__(
        self, pool: asyncpg.Pool | Callable[[], asyncpg.Pool], keks: KeyEncryptionKeys
    ) -> None:
        # a pool, or a way to get one: a service's pool exists only while it runs
        self._pool_source = pool
        self._keks = keks

    @property
    def _pool(self) -> asyncpg.Pool:
        source = self._pool_source
        return source if isinstance(source, asyncpg.Pool) else source()

    @classmethod
    def with_own_pool(
        cls, dsn: str, keks: KeyEncryptionKeys, *, size: int = 5
    ) -> OwnPoolSubjectKeyStore:
        """A store with a pool of its own (in production: the key store's own database role).
        Its own pool also means sealing never waits for a connection of the caller's pool, which
        may all be held by the very transactions that are sealing."""
        return OwnPoolSubjectKeyStore(dsn, keks, size=size)

    def new_data_key(self, subject_id: UUID, municipality: str) -> tuple[bytes, NewDataKey]:
        key = AESGCM.generate_key(bit_length=256)
        kek_id, wrapped = self._keks.wrap(key, subject_id)
        return key, NewDataKey(subject_id, municipality, kek_id, wrapped)

    async def store_new_keys(self, keys: Sequence[NewDataKey]) -> None:
        if not keys:
            return
        async with self._pool.acquire() as conn:
            # a plain INSERT: a subject id that exists already is a bug, and must fail loudly
            # rather than leave values sealed with a key that was never stored
            await conn.execute(
                "INSERT INTO subject_keys.data_keys (subject_id, municipality, kek_id, wrapped_key)"
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])",
                [k.subject_id for k in keys],
                [k.municipality for k in keys],
                [k.kek_id for k in keys],
                [k.wrapped_key for k in keys],
            )

    async def data_key(self, subject_id: UUID, municipality: str) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        kek_id, wrapped = self._keks.wrap(key, subject_id)
        async with self._pool.acquire() as conn:
            # one statement (one round trip) for the usual case, a subject's first key; never
            # for an erased subject
            if await conn.fetchval(
                "INSERT INTO subject_keys.data_keys (subject_id, municipality, kek_id, wrapped_key)"
                " SELECT $1, $2, $3, $4 WHERE NOT EXISTS"
                " (SELECT 1 FROM subject_keys.erasures WHERE subject_id = $1)"
                " ON CONFLICT (subject_id) DO NOTHING RETURNING true",
                subject_id,
                municipality,
                kek_id,
                wrapped,
            ):
                return key
        # the subject had a key already (or a concurrent first use won), or was erased
        return await self.existing_data_key(subject_id)

    async def existing_data_key(self, subject_id: UUID) -> bytes:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT kek_id, wrapped_key FROM subject_keys.data_keys WHERE subject_id = $1",
                subject_id,
            )
            if row is None:
                erased = await conn.fetchval(
                    "SELECT 1 FROM subject_keys.erasures WHERE subject_id = $1",
                    subject_id,
                )
                if erased:
                    raise SubjectErasedError(f"subject {subject_id} was erased")
                raise UnknownSubjectError(f"no data key for subject {subject_id}")
        return self._keks.unwrap(row["kek_id"], bytes(row["wrapped_key"]), subject_id)

    async def existing_data_keys(self, subject_ids: Collection[UUID]) -> SubjectKeys:
        wanted = list(set(subject_ids))
        if not wanted:
            return SubjectKeys({}, frozenset())
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT w.subject_id, k.kek_id, k.wrapped_key,"
                " EXISTS (SELECT 1 FROM subject_keys.erasures AS e"
                "         WHERE e.subject_id = w.subject_id) AS erased"
                " FROM unnest($1::uuid[]) AS w (subject_id)"
                " LEFT JOIN subject_keys.data_keys AS k USING (subject_id)",
                wanted,
            )
        keys = {
            r["subject_id"]: self._keks.unwrap(
                r["kek_id"], bytes(r["wrapped_key"]), r["subject_id"]
            )
            for r in rows
            if r["wrapped_key"] is not None
        }
        erased = frozenset(
            r["subject_id"] for r in rows if r["wrapped_key"] is None and r["erased"]
        )
        return SubjectKeys(keys, erased)

    async def shred(self, subject_id: UUID, *, reason: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            municipality = await conn.fetchval(
                "DELETE FROM subject_keys.data_keys WHERE subject_id = $1 RETURNING municipality",
                subject_id,
            )
            if municipality is None:
                return False
            await conn.execute(
                "INSERT INTO subject_keys.erasures (subject_id, municipality, reason)"
                " VALUES ($1, $2, $3) ON CONFLICT (subject_id) DO NOTHING",
                subject_id,
                municipality,
                reason,
            )
        return True

    async def rewrap(self, batch: int = 500) -> int:
        """After a KEK rotation: re-wrap keys still wrapped by an older KEK; returns how many."""
        done = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT subject_id, kek_id, wrapped_key FROM subject_keys.data_keys"
                " WHERE kek_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED",
                self._keks.active_id,
                batch,
            )
            for row in rows:
                key = self._keks.unwrap(row["kek_id"], bytes(row["wrapped_key"]), row["subject_id"])
                kek_id, wrapped = self._keks.wrap(key, row["subject_id"])
                await conn.execute(
                    "UPDATE subject_keys.data_keys SET kek_id = $2, wrapped_key = $3"
                    " WHERE subject_id = $1",
                    row["subject_id"],
                    kek_id,
                    wrapped,
                )
                done += 1
        return done


class OwnPoolSubjectKeyStore(PostgresSubjectKeyStore):
    """The key store on a pool it opens on first use and closes with `close()`."""

    def __init__(self, dsn: str, keks: KeyEncryptionKeys, *, size: int = 5) -> None:
        self._dsn = dsn
        self._size = size
        self._own: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        super().__init__(self._require_pool, keks)

    def _require_pool(self) -> asyncpg.Pool:
        if self._own is None:
            raise RuntimeError("the key store is not open: call open() first")
        return self._own

    async def open(self) -> None:
        async with self._opening:
            if self._own is None:
                self._own = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._size, reset=_no_session_state
                )

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (advisory unlock, RESET ALL, CLOSE ALL, UNLISTEN):
    four statements on every release, most of the key store's statements at a steady rate
    (issue 22), and nothing to reset: the key store sets no session state, takes no session
    locks and listens to nothing."""
