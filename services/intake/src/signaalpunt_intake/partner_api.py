"""Intake's HTTP routes for partner systems: the keys to encrypt their events to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from signaalpunt_privacy.partner_encryption import PartnerKeyring

JWKS_PATH = "/.well-known/jwks.json"


def add_partner_routes(api: FastAPI, keyring: PartnerKeyring) -> None:
    @api.get(
        JWKS_PATH,
        summary="Intake's public keys for partner events (JWKS)",
        description=(
            "Partners encrypt each event's report to one of these keys (JWE, ECDH-ES+A256KW with "
            "A256GCM) and name its `kid` in the JWE header. During a rotation the set holds the "
            "old and the new key; take the newest (the last) and read the set again at least "
            "daily. Public: no token needed."
        ),
        tags=["partners"],
    )
    async def partner_jwks(response: Response) -> dict[str, Any]:
        response.headers["Cache-Control"] = "public, max-age=300"
        return keyring.public_jwks()
