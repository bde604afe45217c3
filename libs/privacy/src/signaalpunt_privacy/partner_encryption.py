"""Partner events arrive encrypted: JWE (RFC 7516) to one of intake's public keys.

A partner system encrypts its report with a public key from intake's JWKS (served by intake at
`/.well-known/jwks.json`; `ECDH-ES+A256KW` key agreement, `A256GCM` content encryption) and
names that key's `kid` in the JWE header. Intake holds several private keys at once and decrypts
with the one the `kid` names, so a key rotation overlaps old and new keys: a new key is added to
intake's key file (and so to the JWKS) before partners move to it, and the old one is removed only
after the last event encrypted to it has been read. The partner topic, its dead-letter topic and
any copy of them hold ciphertext only.

Limits: a JWE of at most `MAX_JWE_BYTES`; the library's own lower default cap (64 KiB of
ciphertext) is raised to match, so the stated limit is the real one.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, JWKRegistry
from joserfc.jws import JWSRegistry

CONTENT_TYPE = "application/jose"
ALGORITHM = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}
MAX_JWE_BYTES = 256 * 1024
"""The largest compact JWE (the Kafka value) intake reads; a valid report always fits."""


class _Registry(JWERegistry):
    # the compact value's parts add up to MAX_JWE_BYTES at most: the ciphertext gets the room
    max_ciphertext_length = MAX_JWE_BYTES


REGISTRY = _Registry(algorithms=[ALGORITHM["alg"], ALGORITHM["enc"]])


class NotDecryptableError(ValueError):
    """The value is not a JWE for one of intake's keys (or was altered)."""


class UnknownKeyError(NotDecryptableError):
    """The JWE names a `kid` that intake does not hold (any more)."""

    def __init__(self, kid: str | None) -> None:
        super().__init__(
            f"the JWE names key {kid!r}, which intake does not hold; encrypt to a key of "
            "intake's current JWKS (/.well-known/jwks.json)"
            if kid
            else "the JWE header names no kid; encrypt to a key of intake's JWKS and name its kid"
        )
        self.kid = kid


def new_key(kid: str) -> dict[str, Any]:
    """A new private key of intake's (a JWK with its `kid`)."""
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "enc"}, private=True)
    return key.as_dict(private=True)


def public_jwks(private_keys: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JWKS partners encrypt to: the public halves, with `kid`, `use` and `alg`."""
    keys = []
    for private in private_keys:
        public = ECKey.import_key(private).as_dict(private=False)
        keys.append({**public, "use": "enc", "alg": ALGORITHM["alg"]})
    return {"keys": keys}


def write_key_file(private_file: Path, keys: list[dict[str, Any]]) -> None:
    """Intake's private keys as a JWKS file, readable only by its owner."""
    private_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = private_file.with_suffix(".tmp")
    temporary.write_text(json.dumps({"keys": keys}))
    temporary.chmod(0o600)
    temporary.replace(private_file)  # a reader sees the old set or the new one, never half


def generate_key_pair(private_file: Path, public_file: Path, *, kid: str) -> None:
    """Intake's first key pair: the private JWKS stays with intake, the public JWKS is for
    partners (intake also serves it over HTTP)."""
    key = new_key(kid)
    write_key_file(private_file, [key])
    public_file.write_text(json.dumps(public_jwks([key]), indent=2) + "\n")


def encrypt_for_intake(plaintext: bytes, jwks: dict[str, Any], *, kid: str | None = None) -> bytes:
    """What a partner system does (and the tests and the demo, on its behalf): encrypt to the key
    `kid` of intake's JWKS (the first one when not named)."""
    keys = jwks["keys"]
    chosen = next((k for k in keys if k.get("kid") == kid), None) if kid else keys[0]
    if chosen is None:
        raise KeyError(f"no key {kid!r} in the JWKS")
    public = ECKey.import_key(chosen)
    header = {**ALGORITHM, "kid": public.kid} if public.kid else dict(ALGORITHM)
    return jwe.encrypt_compact(header, plaintext, public, registry=REGISTRY).encode()


def _load(path: Path) -> dict[str, ECKey]:
    data = json.loads(path.read_text())
    keys = data.get("keys", [data])  # a JWKS, or one JWK (older key files)
    imported = [ECKey.import_key(k) for k in keys]
    return {k.kid or "": k for k in imported}


def _protected_header(value: bytes) -> dict[str, Any]:
    """The JWE's protected header (its first part), read only to pick the key by `kid`."""
    try:
        encoded = value.split(b".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4)))
    except ValueError as exc:
        raise NotDecryptableError(f"not a compact JWE ({type(exc).__name__})") from exc
    if not isinstance(header, dict) or value.count(b".") != 4:
        raise NotDecryptableError("not a compact JWE (five parts separated by dots)")
    return header


class PartnerKeyring:
    """Intake's private keys for partner events, by `kid`, read from a JWKS file.

    The file is read again when an event names a `kid` not held (at most once per
    `reload_interval` seconds), so adding a key needs no restart.
    """

    def __init__(self, path: Path, *, reload_interval: float = 2.0) -> None:
        self._path = path
        self._reload_interval = reload_interval
        self._lock = threading.Lock()
        self._keys = _load(path)
        self._loaded_at = time.monotonic()

    def public_jwks(self) -> dict[str, Any]:
        self.reload()
        return public_jwks(k.as_dict(private=True) for k in self._keys.values())

    def reload(self) -> None:
        with self._lock:
            self._keys = _load(self._path)
            self._loaded_at = time.monotonic()

    def _key(self, kid: str | None) -> ECKey:
        if kid in self._keys:
            return self._keys[kid]
        if kid and time.monotonic() - self._loaded_at >= self._reload_interval:
            self.reload()
            if kid in self._keys:
                return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))  # older partners name no kid: one key only
        raise UnknownKeyError(kid)

    def decrypt(self, value: bytes) -> bytes:
        if len(value) > MAX_JWE_BYTES:
            raise NotDecryptableError(f"the JWE is larger than {MAX_JWE_BYTES} bytes")
        key = self._key(_protected_header(value).get("kid"))
        try:
            return jwe.decrypt_compact(value, key, registry=REGISTRY).plaintext or b""
        except (JoseError, ValueError) as exc:
            raise NotDecryptableError(
                f"not a JWE for intake's key {key.kid!r} ({type(exc).__name__})"
            ) from exc


PartnerDecrypter = PartnerKeyring  # the name older callers use


# --- partner signatures: a JWS (RFC 7515) of the report, nested inside the JWE ---------------

SIGNING_ALGORITHMS = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
"""What a partner may sign with (the key's `alg` in the partner registry decides)."""


class _SignatureRegistry(JWSRegistry):
    max_payload_length = MAX_JWE_BYTES  # the report inside: bounded by the JWE around it


SIGNATURES = _SignatureRegistry(algorithms=list(SIGNING_ALGORITHMS))


class SignatureError(ValueError):
    """The JWS does not verify with the key it names."""


def new_signing_key(kid: str) -> dict[str, Any]:
    """A partner's new private signing key (ES256), as a JWK with its `kid`."""
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256"}, private=True)
    return key.as_dict(private=True)


def public_key(private: dict[str, Any]) -> dict[str, Any]:
    """The public half of a JWK, for a partner's entry in the partner registry."""
    public = JWKRegistry.import_key(private).as_dict(private=False)
    return {k: v for k, v in {**public, "alg": private.get("alg")}.items() if v is not None}


def sign_and_encrypt(
    report: bytes, signing_key: dict[str, Any], intake_jwks: dict[str, Any]
) -> bytes:
    """What a partner system does: sign the report's JSON with its own key (JWS), then encrypt
    that JWS to intake's newest key (JWE, `cty: JOSE`)."""
    key = JWKRegistry.import_key(signing_key)
    header = {"alg": signing_key.get("alg", "ES256"), "kid": key.kid}
    signed = jws.serialize_compact(header, report, key, registry=SIGNATURES).encode()
    public = ECKey.import_key(intake_jwks["keys"][-1])
    outer = {**ALGORITHM, "kid": public.kid, "cty": "JOSE"}
    return jwe.encrypt_compact(outer, signed, public, registry=REGISTRY).encode()


def signed_header(value: bytes) -> dict[str, Any] | None:
    """The JWS header of a signed report (None when the value is not a compact JWS)."""
    if value.count(b".") != 2:
        return None
    try:
        encoded = value.split(b".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4)))
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


@functools.lru_cache(maxsize=1024)
def _public_key(jwk: str) -> Any:
    """A partner's public JWK (as canonical JSON), imported once: importing it (the curve point
    decoded and checked) for every event was 8% of intake's CPU in a partner drain (issue 22).
    Public keys only, so nothing secret is kept; a partner's new key is a new entry."""
    return JWKRegistry.import_key(json.loads(jwk))


def verify(value: bytes, key: dict[str, Any]) -> bytes:
    """The report a JWS carries, once its signature verifies with `key` (a public JWK)."""
    try:
        imported = _public_key(json.dumps(key, sort_keys=True))
        algorithms = [key["alg"]] if key.get("alg") in SIGNING_ALGORITHMS else SIGNING_ALGORITHMS
        signed = jws.deserialize_compact(
            value, imported, algorithms=algorithms, registry=SIGNATURES
        )
    except (JoseError, ValueError) as exc:
        raise SignatureError(f"the signature does not verify ({type(exc).__name__})") from exc
    return signed.payload
