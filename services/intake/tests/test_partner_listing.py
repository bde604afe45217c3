"""A change in the partner registry reaches the services that act for partners (issue 16): intake
lists each partner on partners.listed.v1 (through its outbox, in the change's own transaction),
so notifications takes a new webhook URL without a release. Keys and contact stay in intake."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_contracts import PARTNERS_LISTED, Envelope, PartnerListedV1
from signaalpunt_intake import partner_repository
from test_partner_channel import GP, _read


async def test_a_registry_change_is_listed_for_the_other_services(intake: RunningIntake) -> None:
    url = f"https://his.example/signaalpunt/{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(intake.database_url, server_settings={"search_path": "intake"})
    try:
        partner = await partner_repository.find(conn, GP)
        assert partner is not None
        await partner_repository.save(
            conn, replace(partner, webhook_url=url), actor="f.beheer (test)", action="webhook"
        )
    finally:
        await conn.close()

    def mine(values: list[bytes]) -> list[bytes]:
        return [v for v in values if url.encode() in v]

    (value,) = mine(await _read(intake, PARTNERS_LISTED.name, mine))
    listed = Envelope[PartnerListedV1].model_validate_json(value).data
    assert listed.partner == GP
    assert listed.webhook_url == url
    assert listed.active
    assert b"signing_keys" not in value
    assert b'"kty"' not in value
