"""The running intake service as the tests see it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import Topic
from signaalpunt_runtime import Service
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
