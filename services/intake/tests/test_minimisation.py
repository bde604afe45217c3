"""Data minimised at intake: nothing that could name someone stays readable (issue 17)."""

from __future__ import annotations

import logging

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_testkit.logs import collected_logs
from test_http_channels import _events, _signal, web_form

ORGANISATION = "Huisartspraktijk Planted-Org J. Jansen"


def _partner(intake: RunningIntake) -> dict[str, str]:
    return intake.token(
        kind="partner",
        roles=(),
        channels=("partner_portal",),
        partner_type="huisarts",
        subject="urn:signaalpunt:partner:huisarts-jansen",
    )


async def test_the_reporting_organisation_is_sealed_with_the_reporters_own_key(
    intake: RunningIntake,
) -> None:
    body = web_form(
        channel="partner_portal",
        reporter={
            "kind": "professional",
            "organisation": ORGANISATION,
            "email": "praktijk@example.org",
            "wants_feedback": True,
        },
    )
    accepted = await intake.client.post("/v1/signals", json=body, headers=_partner(intake))
    assert accepted.status_code == 202, accepted.text
    signal_id = accepted.json()["signal_id"]
    events = await _events(intake, signal_id)
    headers, value = events[signal_id]
    assert b"Planted-Org" not in value
    assert not any(b"Planted-Org" in v for v in headers.values())
    signal = _signal(events, signal_id).data
    assert signal.reporter.organisation is None
    assert signal.reporter.organisation_sealed is not None
    assert signal.reporter.email is not None
    # the reporter has a key of their own: erasing the reporter leaves the signal readable
    assert signal.reporter_id is not None
    assert signal.reporter_id != signal.subject_id
    conn = await asyncpg.connect(intake.database_url)
    try:
        row = await conn.fetchval(
            "SELECT signal::text FROM intake.signals WHERE signal_id = $1", signal.signal_id
        )
        keys = await conn.fetchval(
            "SELECT count(*) FROM subject_keys.data_keys WHERE subject_id = ANY($1::uuid[])",
            [signal.subject_id, signal.reporter_id],
        )
    finally:
        await conn.close()
    assert "Planted-Org" not in row
    assert keys == 2


async def test_languages_are_iso_codes_not_free_text(intake: RunningIntake) -> None:
    free_text = web_form()
    free_text["subject"] = {
        **free_text["subject"],
        "languages": ["Nederlands, woont Plantedstraat 17 bij mevrouw de Vries"],
    }
    refused = await intake.client.post("/v1/signals", json=free_text)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith("subject.languages") for e in refused.json()["errors"])
    assert "Plantedstraat" not in refused.text

    codes = web_form()
    codes["subject"] = {**codes["subject"], "languages": ["nl", "tr"]}
    assert (await intake.client.post("/v1/signals", json=codes)).status_code == 202


async def test_idempotency_keys_and_receipt_tokens_are_kept_only_as_keyed_hashes(
    intake: RunningIntake,
) -> None:
    key = f"idem-Planted-{ORGANISATION[-6:]}-{id(intake)}"
    first = await intake.client.post(
        "/v1/signals", json=web_form(), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 202, first.text
    token = first.json()["receipt_token"]
    # a retry still gets the same answer, token included
    again = await intake.client.post(
        "/v1/signals", json=web_form(), headers={"Idempotency-Key": key}
    )
    assert again.status_code == 202
    assert again.json() == first.json()
    status = await intake.client.get(first.json()["status_url"], headers={"receipt-token": token})
    assert status.status_code == 200
    conn = await asyncpg.connect(intake.database_url)
    try:
        stored = await conn.fetch(
            "SELECT key, coalesce(response::text, '') AS response FROM intake.idempotency_keys"
        )
    finally:
        await conn.close()
    assert stored
    assert not any(key in row["key"] or key in row["response"] for row in stored)
    assert not any(token in row["response"] for row in stored)


async def test_no_client_address_in_the_logs_of_an_anonymous_submission(
    intake: RunningIntake,
) -> None:
    """The web form's client address serves rate limiting only (as a keyed hash): it must not
    sit in a log line next to the request's trace id."""
    with collected_logs(logging.INFO) as lines:
        accepted = await intake.client.post("/v1/signals", json=web_form())
        assert accepted.status_code == 202
        await intake.management.get("/readyz")
    access = [line for line in lines if "uvicorn.access" in line]
    assert access  # the request is logged, without who sent it
    service_lines = [line for line in lines if '"logger": "httpx"' not in line]  # not the client's
    assert not [line for line in service_lines if "127.0.0.1:" in line]
