"""Partner events arrive encrypted: JWE (RFC 7516) to intake's public key.

A partner system encrypts the JSON of its report with intake's published public key
(`ECDH-ES+A256KW` key agreement, `A256GCM` content encryption) and sends the compact JWE as the
CloudEvent's value (`content-type: application/jose`). Only intake, which holds the private key,
can read it; the partner topic, its dead-letter topic and any copy of them hold ciphertext only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

CONTENT_TYPE = "application/jose"
ALGORITHM = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}


class NotDecryptableError(ValueError):
    """The value is not a JWE for intake's key (or was altered)."""


def generate_key_pair(private_file: Path, public_file: Path, *, kid: str) -> None:
    """Intake's key pair: the private JWK stays with intake, the public JWKS goes to partners."""
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "enc"}, private=True)
    private_file.parent.mkdir(parents=True, exist_ok=True)
    private_file.write_text(json.dumps(key.as_dict(private=True)))
    private_file.chmod(0o600)
    public_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}, indent=2) + "\n")


def encrypt_for_intake(plaintext: bytes, public_jwks: dict[str, Any]) -> bytes:
    """What a partner system does (and the tests and the demo, on its behalf)."""
    public = ECKey.import_key(public_jwks["keys"][0])
    header = {**ALGORITHM, "kid": public.kid} if public.kid else dict(ALGORITHM)
    return jwe.encrypt_compact(header, plaintext, public).encode()


class PartnerDecrypter:
    def __init__(self, private_jwk: dict[str, Any]) -> None:
        self._key = ECKey.import_key(private_jwk)

    @classmethod
    def from_file(cls, path: Path) -> PartnerDecrypter:
        return cls(json.loads(path.read_text()))

    def decrypt(self, value: bytes) -> bytes:
        try:
            return jwe.decrypt_compact(value, self._key).plaintext or b""
        except (JoseError, ValueError) as exc:
            raise NotDecryptableError(f"not a JWE for intake's key ({type(exc).__name__})") from exc
