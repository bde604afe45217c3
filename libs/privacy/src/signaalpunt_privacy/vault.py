"""Sealing personal data: AES-256-GCM with the subject's own data key.

    vault = PersonalDataVault(key_store)
    sealed = await vault.seal(subject_id, "GM0715", "Mevrouw J. de Vries", field="subject.name")
    name = await vault.open(subject_id, sealed, field="subject.name")

A sealed value is text (`pd1.<base64(nonce || ciphertext)>`) fit for a JSON event or a text column.
The subject id and the field name are authenticated data: a sealed value moved to another subject
or another field does not open. After `erase(subject_id)` nothing of that subject opens again.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import (
    MIGRATIONS,
    SCHEMA,
    KeyEncryptionKeys,
    NewDataKey,
    PostgresSubjectKeyStore,
    SubjectKeys,
    SubjectKeyStore,
)

PREFIX = "pd1."


class TamperedError(ValueError):
    """The sealed value was altered, or belongs to another subject or field."""


def _aad(subject_id: UUID, field: str) -> bytes:
    return subject_id.bytes + field.encode()


class Sealer:
    """Seals several values of one subject with one fetch of the data key."""

    def __init__(self, subject_id: UUID, key: bytes) -> None:
        self._subject_id = subject_id
        self._aes = AESGCM(key)

    def seal(self, plaintext: str, *, field: str) -> str:
        nonce = os.urandom(12)
        ciphertext = self._aes.encrypt(nonce, plaintext.encode(), _aad(self._subject_id, field))
        return PREFIX + base64.b64encode(nonce + ciphertext).decode()


class PersonalDataVault:
    def __init__(self, keys: SubjectKeyStore) -> None:
        self._keys = keys

    async def sealer(self, subject_id: UUID, municipality: str) -> Sealer:
        """For all the values of one record: the data key is fetched (or made) once."""
        return Sealer(subject_id, await self._keys.data_key(subject_id, municipality))

    def new_subject(self, subject_id: UUID, municipality: str) -> tuple[Sealer, NewDataKey]:
        """For a subject whose id was made just now: a sealer without any I/O, and the new
        wrapped key. `keep` must store that key before anything sealed with it is committed
        (a service stores many new subjects' keys in one statement: group commit)."""
        key, new = self._keys.new_data_key(subject_id, municipality)
        return Sealer(subject_id, key), new

    async def keep(self, new_keys: Sequence[NewDataKey]) -> None:
        await self._keys.store_new_keys(new_keys)

    async def seal(self, subject_id: UUID, municipality: str, plaintext: str, *, field: str) -> str:
        return (await self.sealer(subject_id, municipality)).seal(plaintext, field=field)

    async def open(self, subject_id: UUID, sealed: str, *, field: str) -> str:
        raw = _sealed_bytes(sealed, field)
        return _decrypt(await self._keys.existing_data_key(subject_id), raw, subject_id, field)

    async def opener(self, subject_ids: Collection[UUID]) -> Opener:
        """For the values of many subjects (a batch of events): their data keys fetched in one
        round trip, then each value opened without I/O."""
        return Opener(await self._keys.existing_data_keys(subject_ids))

    async def erase(self, subject_id: UUID, *, reason: str) -> bool:
        """Crypto-shredding: every sealed value of this subject, anywhere, becomes unreadable."""
        return await self._keys.shred(subject_id, reason=reason)


class Opener:
    """Opens sealed values of the subjects it was made for (`PersonalDataVault.opener`), with
    the same errors as `PersonalDataVault.open`: SubjectErasedError, UnknownSubjectError (also
    for a subject it was not made for) and TamperedError."""

    def __init__(self, keys: SubjectKeys) -> None:
        self._keys = keys

    def open(self, subject_id: UUID, sealed: str, *, field: str) -> str:
        raw = _sealed_bytes(sealed, field)
        return _decrypt(self._keys.key(subject_id), raw, subject_id, field)


def _sealed_bytes(sealed: str, field: str) -> bytes:
    if not sealed.startswith(PREFIX):
        raise TamperedError(f"not a sealed value for {field}")
    try:
        return base64.b64decode(sealed[len(PREFIX) :], validate=True)
    except ValueError as exc:
        raise TamperedError(f"sealed {field} is not base64") from exc


def _decrypt(key: bytes, raw: bytes, subject_id: UUID, field: str) -> str:
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], _aad(subject_id, field)).decode()
    except InvalidTag as exc:
        raise TamperedError(f"sealed {field} does not open for this subject") from exc


class _StartsWithService(Protocol):
    def also_start(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None: ...


KEY_STORE_MIGRATIONS = (MIGRATIONS, SCHEMA)
"""For `Service(shared_migrations=[KEY_STORE_MIGRATIONS])`: the shared subject-key schema."""


def service_vault(
    service: _StartsWithService, *, key_encryption_keys: str, database_url: str
) -> PersonalDataVault:
    """The vault of one service: data keys in the shared key store, on a pool of its own (a
    handler's transaction holds one of the service's connections while it opens a value, so
    sharing that pool could deadlock), opened and closed with the service."""
    store = PostgresSubjectKeyStore.with_own_pool(
        database_url, KeyEncryptionKeys.from_spec(key_encryption_keys)
    )
    service.also_start(store.open, store.close)
    return PersonalDataVault(store)
