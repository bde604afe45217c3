"""The AsyncAPI document of partner.signals.v1 tells the truth: what it describes is accepted,
its limits are the real ones, and every refusal reason intake gives is listed in it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import jsonschema
from intake_harness import RunningIntake
from signaalpunt_contracts import PartnerSignalV1
from signaalpunt_contracts.partner import MAX_PARTNER_EVENT_BYTES, REJECTION_REASONS
from signaalpunt_privacy.partner_encryption import MAX_JWE_BYTES, sign_and_encrypt
from signaalpunt_runtime.broker_factory import make_producer
from test_partner_channel import GP, signals_from

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = json.loads((REPO / "contracts" / "generated" / "asyncapi.json").read_text())
SOURCES = REPO / "services" / "intake" / "src" / "signaalpunt_intake"


def test_every_reason_intake_gives_is_in_the_document() -> None:
    code = "\n".join(p.read_text() for p in SOURCES.glob("*.py"))
    given = set(re.findall(r'(?:refuse|RefusalError|RefusedEventError)\(\s*"([a-z_]+)"', code))
    given |= {"invalid", "not_processed"}  # from validation errors and our own failures
    assert len(given) > 10
    message = DOCUMENT["components"]["messages"]["partner.signals.v1:Message"]
    assert given <= set(message["x-rejection-reasons"]) == set(REJECTION_REASONS)


def test_the_stated_size_limit_is_the_one_applied() -> None:
    message = DOCUMENT["components"]["messages"]["partner.signals.v1:Message"]
    assert message["payload"]["maxLength"] == MAX_PARTNER_EVENT_BYTES == MAX_JWE_BYTES


async def test_an_event_made_as_the_document_describes_is_accepted(intake: RunningIntake) -> None:
    message = DOCUMENT["components"]["messages"]["partner.signals.v1:Message"]
    assert message["contentType"] == "application/jose"
    header_schema = message["headers"]
    event_id = f"asyncapi-{uuid.uuid4().hex[:8]}"
    values = {"ce_id": event_id, "ce_source": GP, "ce_time": "2026-11-23T09:00:00Z"}
    headers = {
        name: spec["const"] if "const" in spec else values[name]
        for name, spec in header_schema["properties"].items()
    }
    jsonschema.validate(headers, header_schema)

    report = PartnerSignalV1.examples[0]
    inner = {"$ref": "#/components/schemas/PartnerSignalV1", "components": DOCUMENT["components"]}
    jsonschema.validate(report, inner)
    assert message["payload"]["x-signed-payload"] == {
        "$ref": "#/components/schemas/PartnerSignalV1"
    }

    jwks = (await intake.client.get("/.well-known/jwks.json")).json()
    value = sign_and_encrypt(json.dumps(report).encode(), intake.partner_keys[GP], jwks)
    jsonschema.validate(value.decode(), message["payload"])

    producer = make_producer(intake.infra.kafka_bootstrap, client_id="asyncapi-partner")
    await producer.start()
    try:
        await producer.send_and_wait(
            intake.partner_signals.name,
            value=value,
            key=GP.encode(),
            headers=[(name, str(v).encode()) for name, v in headers.items()],
        )
    finally:
        await producer.stop()
    (signal,) = await signals_from(intake, f"{GP}#{event_id}")
    assert signal.municipality == "GM0715"
