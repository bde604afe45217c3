"""Defect 2 of issue 16 on HTTP: a text within the stated limits is taken on every channel, in any
script; the limits are stated in characters and bytes in the OpenAPI document."""

from __future__ import annotations

import os
from uuid import uuid4

from intake_harness import RunningIntake
from signaalpunt_contracts import SignalReport
from signaalpunt_contracts.signals import SEALED_MAX_LENGTH
from signaalpunt_privacy.vault import Sealer
from test_http_channels import web_form


async def test_a_long_text_in_any_script_is_taken_by_every_http_channel(
    intake: RunningIntake,
) -> None:
    for text in ("孤" * 5000, "😔" * 3800, "😔" * 5000):
        anonymous = await intake.client.post(
            "/v1/signals", json=web_form(concern={"text": text, "cues": []})
        )
        assert anonymous.status_code == 202, anonymous.text
        desk = await intake.client.post(
            "/v1/signals",
            json=web_form(channel="phone", concern={"text": text, "cues": []}),
            headers=intake.token(),
        )
        assert desk.status_code == 202, desk.text

    too_long = await intake.client.post(
        "/v1/signals", json=web_form(concern={"text": "孤" * 5001, "cues": []})
    )
    assert too_long.status_code == 422
    assert [e["field"] for e in too_long.json()["errors"]] == ["concern.text"]


async def test_the_openapi_document_states_the_limits_in_characters_and_bytes(
    intake: RunningIntake,
) -> None:
    spec = (await intake.management.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    text = schemas["ConcernReport"]["properties"]["text"]
    variants = text.get("anyOf", [text])
    string = next(v for v in variants if v.get("type") == "string")
    assert string["maxLength"] == 5000
    assert text["x-max-characters"] == 5000
    assert text["x-max-utf8-bytes"] == 20000
    assert "5000 characters" in text["description"]
    assert "20000 UTF-8 bytes" in text["description"]


def test_the_longest_text_a_reporter_may_give_fits_once_sealed() -> None:
    # every text field's limit in characters, each character of the largest UTF-8 size (4 bytes)
    limits = {
        f"{part}.{name}": field["x-max-characters"]
        for part, schema in SignalReport.model_json_schema()["$defs"].items()
        for name, field in schema.get("properties", {}).items()
        if "x-max-characters" in field
    }
    assert limits["ConcernReport.text"] == 5000
    sealer = Sealer(uuid4(), os.urandom(32))
    for field, characters in limits.items():
        sealed = sealer.seal("😔" * characters, field=field)
        assert len(sealed) <= SEALED_MAX_LENGTH, field
