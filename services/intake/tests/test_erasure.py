"""Erasure as a coordinator's workflow (AVG art. 17) on the real Kafka and PostgreSQL: find the
person's signals through the blind index, four eyes, open acute cases, reporters on their own;
afterwards none of the person's events opens and nothing links a new report to them."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_contracts import Envelope, SignalErasedV1, SignalReceivedV1
from signaalpunt_intake.erasure_cli import app as cli
from signaalpunt_privacy import (
    KeyEncryptionKeys,
    PersonalDataVault,
    PostgresSubjectKeyStore,
    SubjectErasedError,
)
from signaalpunt_runtime.broker_factory import make_reader
from test_http_channels import _events, _signal, web_form
from typer.testing import CliRunner


def _person(name: str, **extra: Any) -> dict[str, Any]:
    body = web_form(**extra)
    body["subject"] = {**body["subject"], "name": name, "birth_year": 1938, "postcode": "4531 PX"}
    return body


def _coordinator(intake: RunningIntake, who: str = "regisseur-1", **kw: Any) -> dict[str, str]:
    return intake.token(roles=("coordinator",), subject=f"urn:signaalpunt:staff:{who}", **kw)


async def _submit(intake: RunningIntake, body: dict[str, Any], **headers: str) -> str:
    answer = await intake.client.post("/v1/signals", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["signal_id"])


async def _erased_events(intake: RunningIntake, count: int) -> list[Envelope[SignalErasedV1]]:
    reader = make_reader(intake.infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([intake.erased.name])
        got: list[Envelope[SignalErasedV1]] = []
        for _ in range(40):
            for records in (await reader.getmany(timeout_ms=500)).values():
                got += [
                    Envelope[SignalErasedV1].model_validate_json(r.value or b"") for r in records
                ]
            if len(got) >= count:
                return got
        raise AssertionError(f"{len(got)} erasure events, expected {count}")
    finally:
        await reader.stop()


async def _vault(intake: RunningIntake) -> tuple[PersonalDataVault, asyncpg.Pool]:
    spec = intake.service.settings.key_encryption_keys.get_secret_value()  # type: ignore[attr-defined]
    pool = await asyncpg.create_pool(intake.database_url, min_size=1, max_size=2)
    assert pool is not None
    return PersonalDataVault(PostgresSubjectKeyStore(pool, KeyEncryptionKeys.from_spec(spec))), pool


async def test_a_coordinator_erases_a_person_with_four_eyes(intake: RunningIntake) -> None:
    name = f"Mevrouw Erase-{uuid4().hex[:8]} de Vries"
    first = await _submit(intake, _person(name), **{"Idempotency-Key": f"erase-{uuid4()}"})
    second = await _submit(
        intake, _person(name.upper() + ".")
    )  # the same person, written differently
    other = await _submit(intake, _person(f"Meneer Blijft-{uuid4().hex[:8]}"))
    events = await _events(intake, first, second, other)

    # only coordinators of the municipality may look
    search = {"municipality": "GM0715", "name": name, "birth_year": 1938, "postcode": "4531px"}
    desk = await intake.client.post("/v1/erasures/search", json=search, headers=intake.token())
    assert desk.status_code == 403
    elsewhere = await intake.client.post(
        "/v1/erasures/search", json=search, headers=_coordinator(intake, municipality="GM0687")
    )
    assert elsewhere.status_code == 403

    found = await intake.client.post(
        "/v1/erasures/search", json=search, headers=_coordinator(intake)
    )
    assert found.status_code == 200, found.text
    assert {c["signal_id"] for c in found.json()["candidates"]} == {first, second}
    by_signal = await intake.client.post(
        "/v1/erasures/search",
        json={"municipality": "GM0715", "signal_ids": [second]},
        headers=_coordinator(intake),
    )
    assert {c["signal_id"] for c in by_signal.json()["candidates"]} == {first, second}

    asked = await intake.client.post(
        "/v1/erasures",
        json={
            "municipality": "GM0715",
            "signal_ids": [first, second],
            "reason": "data_subject_request",
        },
        headers=_coordinator(intake),
    )
    assert asked.status_code == 202, asked.text
    erasure_id = asked.json()["erasure_id"]
    assert asked.json()["state"] == "awaiting_approval"
    own = await intake.client.post(
        f"/v1/erasures/{erasure_id}/approve", headers=_coordinator(intake)
    )
    assert own.status_code == 409
    assert own.headers["content-type"] == "application/problem+json"
    approved = await intake.client.post(
        f"/v1/erasures/{erasure_id}/approve", headers=_coordinator(intake, "regisseur-2")
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "done"
    again = await intake.client.post(
        f"/v1/erasures/{erasure_id}/approve", headers=_coordinator(intake, "regisseur-2")
    )
    assert again.status_code == 404

    erased = await _erased_events(intake, 2)
    assert {str(e.data.signal_id) for e in erased} >= {first, second}
    assert all(e.data.reason.value == "data_subject_request" for e in erased)

    # 0 of the person's events open afterwards; the other person's still do
    vault, pool = await _vault(intake)
    try:
        for signal_id in (first, second):
            data = _signal(events, signal_id).data
            assert data.subject.name is not None
            for owner in (data.subject_id, data.reporter_id):
                assert owner is not None
                try:
                    await vault.open(owner, data.subject.name, field="subject.name")
                    raise AssertionError("an erased person's value still opened")
                except SubjectErasedError:
                    pass
        kept = _signal(events, other).data
        assert kept.subject.name is not None
        assert await vault.open(kept.subject_id, kept.subject.name, field="subject.name")
        async with pool.acquire() as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM intake.signals WHERE signal_id = ANY($1::uuid[])",
                [UUID(first), UUID(second)],
            )
            keys_left = await conn.fetchval(
                "SELECT count(*) FROM intake.idempotency_keys WHERE response::text LIKE $1",
                f"%{first}%",
            )
    finally:
        await pool.close()
    assert left == 0
    assert keys_left == 0

    # nothing links the erased person any more: a new report about them stands alone
    found_after = await intake.client.post(
        "/v1/erasures/search", json=search, headers=_coordinator(intake)
    )
    assert found_after.json()["candidates"] == []
    fresh = await _submit(intake, _person(name))
    assert _signal(await _events(intake, fresh), fresh).data.possible_duplicate_of is None


async def test_an_open_acute_case_needs_explicit_confirmation(intake: RunningIntake) -> None:
    acute = await _submit(intake, _person(f"Acuut-{uuid4().hex[:8]}", reported_urgency="acute"))
    body = {"municipality": "GM0715", "signal_ids": [acute], "reason": "entered_in_error"}
    refused = await intake.client.post("/v1/erasures", json=body, headers=_coordinator(intake))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["signal_id"] == acute
    confirmed = await intake.client.post(
        "/v1/erasures", json=body | {"confirm_open_acute": True}, headers=_coordinator(intake)
    )
    assert confirmed.status_code == 202, confirmed.text


async def test_a_reporter_is_erased_on_their_own(intake: RunningIntake) -> None:
    signal_id = await _submit(intake, _person(f"Blijft-{uuid4().hex[:8]}"))
    data: SignalReceivedV1 = _signal(await _events(intake, signal_id), signal_id).data
    assert data.reporter_id is not None
    assert data.reporter.name is not None
    assert data.subject.name is not None
    asked = await intake.client.post(
        "/v1/erasures",
        json={
            "municipality": "GM0715",
            "signal_ids": [signal_id],
            "scope": "reporter",
            "reason": "consent_withdrawn",
        },
        headers=_coordinator(intake),
    )
    assert asked.status_code == 202
    approved = await intake.client.post(
        f"/v1/erasures/{asked.json()['erasure_id']}/approve",
        headers=_coordinator(intake, "regisseur-2"),
    )
    assert approved.status_code == 200, approved.text
    vault, pool = await _vault(intake)
    try:
        try:
            await vault.open(data.reporter_id, data.reporter.name, field="reporter.name")
            raise AssertionError("the erased reporter's name still opened")
        except SubjectErasedError:
            pass
        # the signal itself stays readable for the case
        assert await vault.open(data.subject_id, data.subject.name, field="subject.name")
        async with pool.acquire() as conn:
            reporter = await conn.fetchval(
                "SELECT signal->'reporter' FROM intake.signals WHERE signal_id = $1",
                UUID(signal_id),
            )
    finally:
        await pool.close()
    assert "name" not in reporter


async def test_the_erasure_cli_goes_through_the_same_api(intake: RunningIntake) -> None:
    name = f"Cli-{uuid4().hex[:8]}"
    signal_id = await _submit(intake, _person(name))
    url = str(intake.client.base_url).rstrip("/")
    runner = CliRunner()

    def run(*args: str, who: str = "regisseur-1") -> str:
        token = _coordinator(intake, who)["Authorization"].removeprefix("Bearer ")
        result = runner.invoke(cli, [*args, "--url", url, "--token", token], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    found = await asyncio.to_thread(
        run, "search", "GM0715", "--name", name, "--birth-year", "1938", "--postcode", "4531 PX"
    )
    assert signal_id in found
    asked = await asyncio.to_thread(
        run, "request", "GM0715", signal_id, "--reason", "data_subject_request"
    )
    assert "awaiting_approval" in asked
    erasure_id = asked.split()[1].rstrip(":")
    done = await asyncio.to_thread(run, "approve", erasure_id, who="regisseur-2")
    assert "done" in done


async def test_only_staff_coordinators_reach_the_erasure_routes(intake: RunningIntake) -> None:
    """Who may call is settled by the route before anything else (`requires`: token kind staff,
    role coordinator): a partner's or a service's token carrying the coordinator role, or a desk
    token, is refused on every erasure route, whatever it asks. Before, the check came after the
    body and the lookup: such a token got a 422 for a bad body and a 404 for an unknown erasure
    (a 403 only for an existing one), so it learned which erasures exist."""
    signal_id = await _submit(intake, _person(f"Soort-{uuid4().hex[:8]}"))
    await _events(intake, signal_id)
    asked = await intake.client.post(
        "/v1/erasures",
        json={"municipality": "GM0715", "signal_ids": [signal_id], "reason": "entered_in_error"},
        headers=_coordinator(intake),
    )
    assert asked.status_code == 202, asked.text
    erasure_id = asked.json()["erasure_id"]

    for kind, role, subject in (
        ("partner", "coordinator", "urn:signaalpunt:partner:jumbo-terneuzen"),
        ("service", "coordinator", "urn:signaalpunt:service:triage"),
        ("staff", "desk", "urn:signaalpunt:staff:desk-1"),
    ):
        token = intake.token(kind=kind, roles=(role,), subject=subject)
        answers = [
            await intake.client.post(
                "/v1/erasures/search",
                json={"municipality": "GM0715", "signal_ids": [signal_id]},
                headers=token,
            ),
            await intake.client.post(
                "/v1/erasures",
                json={
                    "municipality": "GM0715",
                    "signal_ids": [signal_id],
                    "reason": "entered_in_error",
                },
                headers=token,
            ),
            await intake.client.post(f"/v1/erasures/{erasure_id}/approve", headers=token),
            await intake.client.get(f"/v1/erasures/{erasure_id}", headers=token),
            # nothing about the request is looked at for them: not its body, not the id
            await intake.client.post(
                "/v1/erasures/search", json={"municipality": "GM0715"}, headers=token
            ),
            await intake.client.get(f"/v1/erasures/{uuid4()}", headers=token),
            await intake.client.post(f"/v1/erasures/{uuid4()}/approve", headers=token),
        ]
        for answer in answers:
            assert answer.status_code == 403, (kind, answer.request.url.path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert signal_id not in answer.text

    status = await intake.client.get(f"/v1/erasures/{erasure_id}", headers=_coordinator(intake))
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "awaiting_approval", "nobody but a coordinator approved it"
