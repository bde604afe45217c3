"""Retention on the real PostgreSQL and Kafka with a frozen clock (issue 17): a closed signal's
reporter is anonymised after 365 days, a cancelled signal deleted after 1 year and a handled one
after 5 (or a municipality's own periods); a dry run reports and changes nothing; deletions leave
a tombstone and go out as erasures; the metric counts what was removed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_contracts import CaseStepRecordedV1, Envelope
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.retention import RetentionPolicy
from signaalpunt_intake.retention_cli import run_once
from signaalpunt_runtime.broker_factory import make_producer
from test_erasure import _erased_events
from test_http_channels import web_form

CLOSED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _closed(intake: RunningIntake, close_reason: str, **form: Any) -> UUID:
    answer = await intake.client.post("/v1/signals", json=web_form(**form))
    assert answer.status_code == 202, answer.text
    signal_id = UUID(answer.json()["signal_id"])
    step = CaseStepRecordedV1.model_validate(
        {
            "signal_id": str(signal_id),
            "step": "closed",
            "previous_state": "triaged",
            "state": "closed",
            "route": "team_eenzaamheid",
            "close_reason": close_reason,
            "recorded_by": "staff:desk-1",
            "received_at": CLOSED_AT.isoformat(),
            "recorded_at": CLOSED_AT.isoformat(),
        }
    )
    event = Envelope.new(step, municipality="GM0715", producer="triage")
    producer = make_producer(intake.infra.kafka_bootstrap, client_id="retention-tests")
    await producer.start()
    try:
        await producer.send_and_wait(
            intake.case_steps.name,
            value=event.model_dump_json().encode(),
            key=str(signal_id).encode(),
        )
    finally:
        await producer.stop()
    return signal_id


async def _state(intake: RunningIntake, signal_id: UUID) -> dict[str, Any] | None:
    conn = await asyncpg.connect(intake.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT closed_as, closed_at, reporter_anonymised_at,"
            " signal->'reporter' AS reporter FROM intake.signals WHERE signal_id = $1",
            signal_id,
        )
        return dict(row) if row else None
    finally:
        await conn.close()


async def _until_closed(intake: RunningIntake, *signal_ids: UUID) -> None:
    for _ in range(150):
        states = [await _state(intake, s) for s in signal_ids]
        if all(s and s["closed_at"] for s in states):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the closing steps did not arrive")


async def _tombstones(intake: RunningIntake) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(intake.database_url)
    try:
        rows = await conn.fetch(
            "SELECT scope, reason, signal_ids, requested_by, state FROM intake.erasures"
            " WHERE requested_by = 'system:retention' ORDER BY requested_at"
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def test_retention_anonymises_then_deletes_on_its_days(intake: RunningIntake) -> None:
    settings = intake.service.settings
    assert isinstance(settings, IntakeSettings)
    handled = await _closed(intake, "support_arranged")
    cancelled = await _closed(intake, "duplicate")
    also_handled = await _closed(intake, "support_arranged")
    await _until_closed(intake, handled, cancelled, also_handled)
    assert (await _state(intake, cancelled) or {})["closed_as"] == "cancelled"
    assert (await _state(intake, handled) or {})["closed_as"] == "handled"

    async def run(days: int, *, dry_run: bool = False, **policy: RetentionPolicy) -> Any:
        return await run_once(
            settings.model_copy(update={"retention": policy}),
            dry_run=dry_run,
            at=CLOSED_AT + timedelta(days=days),
            erased=intake.erased,
        )

    # a day early: nothing is due
    assert (await run(364)).as_dict()["due"] == []
    assert (await run(364)).as_dict()["erasure_records"] == []
    # the dry run names what is due and changes nothing
    dry = await run(366, dry_run=True)
    assert dry.as_dict()["due"] == [
        {"municipality": "GM0715", "action": "anonymise_reporter", "signals": 2},
        {"municipality": "GM0715", "action": "delete", "signals": 1},
    ]
    assert (await _state(intake, cancelled)) is not None
    assert (await _state(intake, handled) or {})["reporter_anonymised_at"] is None
    assert await _tombstones(intake) == []

    done = await run(366)
    assert done.as_dict() == dry.as_dict() | {"dry_run": False}
    assert await _state(intake, cancelled) is None  # deleted: an erasure of the person
    for kept in (handled, also_handled):
        state = await _state(intake, kept)
        assert state is not None
        assert state["reporter_anonymised_at"] is not None
        assert "name" not in state["reporter"]
        assert "phone" not in state["reporter"]
    tombstones = await _tombstones(intake)
    assert sorted((t["scope"], t["reason"], t["state"]) for t in tombstones) == [
        ("person", "retention_expired", "done"),
        ("reporter", "retention_expired", "done"),
        ("reporter", "retention_expired", "done"),
    ]
    events = await _erased_events(intake, 3)
    assert {(e.data.signal_id, e.data.scope.value) for e in events} >= {
        (cancelled, "person"),
        (handled, "reporter"),
        (also_handled, "reporter"),
    }
    # a second run the same day has nothing left to do
    assert (await run(366)).as_dict()["due"] == []

    # five years on the handled ones go, unless the municipality keeps them longer
    longer = RetentionPolicy(handled_days=10 * 365)
    kept_longer = await run(5 * 365 + 2, dry_run=True, GM0715=longer)
    assert kept_longer.as_dict()["due"] == []
    assert kept_longer.as_dict()["erasure_records"] == [{"municipality": "GM0715", "records": 3}]
    assert len(await _tombstones(intake)) == 3  # a dry run removes no record either
    gone = await run(5 * 365 + 2)
    assert gone.as_dict()["due"] == [{"municipality": "GM0715", "action": "delete", "signals": 2}]
    assert await _state(intake, handled) is None
    assert await _state(intake, also_handled) is None

    # the erasure records themselves: kept ERASURE_RECORD_DAYS (730) after they were carried
    # out; the three of day 366 were removed by that run (first, so this run's own stay)
    assert gone.as_dict()["erasure_records"] == [{"municipality": "GM0715", "records": 3}]
    assert sorted((t["scope"], t["state"]) for t in await _tombstones(intake)) == [
        ("person", "done"),
        ("person", "done"),
    ]
