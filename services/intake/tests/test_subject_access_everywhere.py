"""One answer to a subject-access request across services (AVG art. 15, issue 17): the CLI's
export collects intake's part and each named service's part of the same signals with the
coordinator's own token, each service checking and logging its own read; a service that cannot
be asked stops the export rather than leave its part out. Here with the real matching service
next to intake (same token keys, as one identity provider gives them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio
from intake_harness import RunningIntake
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import (
    MATCHES,
    MATCHES_REQUESTED,
    SIGNALS_ERASED,
    VOLUNTEERS_VOG_EXPIRING,
    Envelope,
    MatchRequestedV1,
)
from signaalpunt_intake.erasure_cli import app as cli
from signaalpunt_matching.config import MatchingSettings
from signaalpunt_matching.handlers import Topics
from signaalpunt_matching.main import build
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import publish
from test_http_channels import web_form
from typer.testing import CliRunner

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matching_url(
    intake: RunningIntake, infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[tuple[str, Topics]]:
    topics = Topics(
        requests=await kafka_topics.private(MATCHES_REQUESTED, "matches.requested.v1"),
        matches=await kafka_topics.private(MATCHES, "matches.v1"),
        vog=await kafka_topics.private(VOLUNTEERS_VOG_EXPIRING, "volunteers.vog-expiring.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
    )
    settings = MatchingSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=KeyEncryptionKeys.generate_spec("test"),  # type: ignore[arg-type]
        jwks_file=intake.keys / "jwks.json",  # the same identity provider as intake's tokens
        outbox_poll_interval=0.2,
    )
    _, app = build(settings, topics=topics, watch=False)
    async with serving(app) as served:
        yield served.url, topics


def _token(intake: RunningIntake, roles: tuple[str, ...], municipality: str = "GM0715") -> str:
    return mint(
        intake.keys,
        subject="urn:signaalpunt:staff:regisseur-inzage",
        kind="staff",
        municipalities=[municipality],
        roles=roles,
    )


async def test_one_export_holds_every_services_part(
    intake: RunningIntake, matching_url: tuple[str, Topics]
) -> None:
    url, topics = matching_url
    registrar = {"Authorization": f"Bearer {_token(intake, ('volunteer_coordinator',))}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as matching:
        added = await matching.post(
            "/v1/matching/volunteers/import",
            headers=registrar,
            json=[
                {
                    "municipality": "GM0715",
                    "first_name": "Inzage",
                    "postcode": "4531 AB",
                    "max_travel_km": 10,
                    "skills": ["visits"],
                    "languages": ["nl"],
                    "max_matches": 2,
                    "vog_issued_on": "2025-01-01",
                    "vog_expires_on": "2030-01-01",
                }
            ],
        )
        assert added.status_code == 200, added.text
    tag = uuid4().hex[:8]
    body: dict[str, Any] = web_form()
    body["subject"] = {**body["subject"], "name": f"Mevrouw Overal-{tag}"}
    taken = await intake.client.post("/v1/signals", json=body)
    assert taken.status_code == 202, taken.text
    signal_id = taken.json()["signal_id"]
    token = _token(intake, ("coordinator",))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(
            cli, [*args, "--url", intake.client.base_url.__str__(), "--token", token]
        )

    only_intake = await asyncio.to_thread(run, "export", "GM0715", signal_id)
    assert only_intake.exit_code == 0, only_intake.output
    subject_id = json.loads(only_intake.output)["signals"][0]["subject_id"]
    request = MatchRequestedV1.model_validate(
        {
            "match_request_id": uuid4(),
            "signal_id": signal_id,
            "subject_id": subject_id,
            "needs": ["buddy"],
            "languages": ["nl"],
            "mobility": "travels_independently",
            "near": {"lat": 51.33, "lon": 3.83},
            "requested_at": datetime.now(UTC),
        }
    )
    envelope = Envelope.new(request, municipality="GM0715", producer="referral")
    await publish(intake.infra.kafka_bootstrap, topics.requests, envelope, signal_id)
    async with httpx.AsyncClient(base_url=url, timeout=30) as matching:
        for _ in range(300):
            held = await matching.get(
                f"/v1/matching/signals/{signal_id}", headers={"Authorization": f"Bearer {token}"}
            )
            if held.status_code == 200 and held.json()["requests"][0]["matches"]:
                break
            await asyncio.sleep(0.1)

    everywhere = await asyncio.to_thread(
        run, "export", "GM0715", signal_id, "--service", f"matching={url}"
    )
    assert everywhere.exit_code == 0, everywhere.output
    answer = json.loads(everywhere.output)
    assert set(answer) == {"intake", "matching"}
    assert answer["intake"]["signals"][0]["signal"]["subject"]["name"] == f"Mevrouw Overal-{tag}"
    [part] = answer["matching"]["signals"][signal_id]["requests"]
    assert (part["needs"], part["status"]) == (["buddy"], "open")
    assert [m["status"] for m in part["matches"]] == ["proposed"]
    accessed = {e["activity"] for e in answer["matching"]["accessed"]}
    assert {"matching.proposal", "matching.subject_access"} <= accessed
    assert {UUID(e["subject_id"]) for e in answer["matching"]["accessed"]} == {UUID(subject_id)}

    # a service that cannot be asked stops the export: no answer that silently leaves it out
    broken = await asyncio.to_thread(
        run,
        "export",
        "GM0715",
        signal_id,
        "--service",
        f"matching={url}",
        "--service",
        "triage=http://127.0.0.1:9",
    )
    assert broken.exit_code == 1
    assert "triage" in broken.output
    assert tag not in broken.output
    unknown = await asyncio.to_thread(
        run, "export", "GM0715", signal_id, "--service", "metrics=http://x"
    )
    assert unknown.exit_code == 2
