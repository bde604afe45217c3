"""Personal data protection shared by every service: per-subject envelope encryption with
crypto-shredding (`vault`, `keys`) and blind indexes for duplicate detection (`blind_index`)."""

from .blind_index import BlindIndex, normalise, normalise_postcode
from .keys import (
    KeyEncryptionKeys,
    NewDataKey,
    PostgresSubjectKeyStore,
    SubjectErasedError,
    SubjectKeys,
    SubjectKeyStore,
    UnknownSubjectError,
)
from .vault import KEY_STORE_MIGRATIONS, Opener, PersonalDataVault, TamperedError, service_vault

__all__ = [
    "KEY_STORE_MIGRATIONS",
    "BlindIndex",
    "KeyEncryptionKeys",
    "NewDataKey",
    "Opener",
    "PersonalDataVault",
    "PostgresSubjectKeyStore",
    "SubjectErasedError",
    "SubjectKeyStore",
    "SubjectKeys",
    "TamperedError",
    "UnknownSubjectError",
    "normalise",
    "normalise_postcode",
    "service_vault",
]
