"""The running intake service as the tests see it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import Topic
from signaalpunt_intake import partner_repository
from signaalpunt_intake.domain import Partner
from signaalpunt_intake.main import MIGRATIONS
from signaalpunt_privacy.partner_encryption import new_signing_key, public_key
from signaalpunt_runtime import Service
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.plugin import Infra


@dataclass
class RunningIntake:
    client: httpx.AsyncClient
    service: Service
    received: Topic
    keys: Path
    database_url: str
    infra: Infra
    partner_signals: Topic
    rejections: Topic
    case_steps: Topic
    partner_keys: dict[str, dict[str, Any]]  # each registered partner's private signing key
    partner_topic_prefix: str  # each partner's own rejection topic: <prefix><slug>.rejections.v1
    erased: Topic
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs

    def token(
        self,
        *,
        kind: str = "staff",
        municipality: str = "GM0715",
        roles: tuple[str, ...] = ("desk",),
        channels: tuple[str, ...] = (),
        partner_type: str | None = None,
        subject: str = "urn:signaalpunt:staff:desk-1",
    ) -> dict[str, str]:
        token = mint(
            self.keys,
            subject=subject,
            kind=kind,
            municipalities=[municipality],
            roles=roles,
            channels=channels,
            partner_type=partner_type,
        )
        return {"Authorization": f"Bearer {token}"}


SEED = Path(__file__).resolve().parents[3] / "deploy" / "local" / "partners.yaml"


async def register_partners(database_url: str) -> dict[str, dict[str, Any]]:
    """The development partners (deploy/local/partners.yaml) in the registry, each with a new
    signing key; returns their private keys by URN (what each partner's system holds)."""
    await upgrade_async(MIGRATIONS, database_url, "intake")
    private: dict[str, dict[str, Any]] = {}
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        for entry in yaml.safe_load(SEED.read_text())["partners"]:
            key = new_signing_key(f"{entry['urn'].rsplit(':', 1)[-1]}-{os.urandom(3).hex()}")
            private[entry["urn"]] = key
            partner = Partner(
                urn=entry["urn"],
                name=entry["name"],
                partner_type=entry["partner_type"],
                municipalities=tuple(entry["municipalities"]),
                signing_keys=(public_key(key),),
            )
            await partner_repository.save(conn, partner, actor="test-setup", action="add")
    finally:
        await conn.close()
    return private
