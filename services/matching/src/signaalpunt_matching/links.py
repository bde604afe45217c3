"""Signed answer links: how a volunteer accepts or declines a proposal without an account.

A link carries a compact JWS (HS256, joserfc) with the match id, a one-time nonce kept on the
match row and the response deadline as `exp`. It proves who may answer, not that it was not used:
the nonce is cleared in the answer's own transaction, so a second use (or a link of an earlier
proposal) finds nothing to answer. The signing key is the configured secret, or else derived
from the service's active key-encryption key with HKDF under a label of its own (so the KEK never
signs anything itself; rotating it ends the links of open proposals, which then expire).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"
LABEL = b"signaalpunt matching answer links v1"


class ForgedLinkError(Exception):
    """Not a link this service signed (or altered): answered as 404, like an unknown link."""


class ExpiredLinkError(Exception):
    """The response deadline passed: answered as 410."""


def derived_secret(key_encryption_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(
        key_encryption_key
    )


@dataclass(frozen=True)
class LinkClaims:
    match_id: UUID
    nonce: str


class AnswerLinks:
    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < 32:
            raise ValueError("an answer-link secret needs at least 32 bytes")
        self._key = OctKey.import_key(secret)
        self._base = base_url.rstrip("/")

    def issue(self, match_id: UUID, respond_by: datetime) -> tuple[str, str]:
        """(the link's token, its nonce to store on the match)."""
        nonce = secrets.token_urlsafe(16)
        claims = {"mid": str(match_id), "jti": nonce, "exp": int(respond_by.timestamp())}
        return jwt.encode({"alg": ALGORITHM}, claims, self._key), nonce

    def url(self, token: str) -> str:
        return f"{self._base}/v1/matching/answers/{token}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            claims = decoded.claims
            match_id, nonce, exp = UUID(str(claims["mid"])), str(claims["jti"]), claims["exp"]
        except (JoseError, KeyError, ValueError, TypeError) as exc:
            raise ForgedLinkError from exc
        if not isinstance(exp, int) or now.timestamp() > exp:
            raise ExpiredLinkError
        return LinkClaims(match_id, nonce)
