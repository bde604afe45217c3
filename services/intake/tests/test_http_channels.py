"""POST /v1/signals end to end: web form, phone desk and partner portal to signals.received.v1."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import CaseStepRecordedV1, Envelope, SignalReceivedV1
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_testkit.logs import collected_logs

PLANTED = {
    "reporter_name": "Aaltje Planted-Reporter",
    "reporter_phone": "06-98765432",
    "subject_name": "Mevrouw Planted-Subject de Vries",
    "address": "Plantedstraat 17",
    "postcode": "4531 PX",
    "text": "Zij heeft sinds de dood van haar man PLANTEDTEXT niemand meer gezien.",
}


def web_form(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "web_form",
        "reporter": {
            "kind": "relative_or_neighbour",
            "name": PLANTED["reporter_name"],
            "phone": PLANTED["reporter_phone"],
            "may_contact": True,
        },
        "subject": {
            "name": PLANTED["subject_name"],
            "birth_year": 1941,
            "address": PLANTED["address"],
            "postcode": PLANTED["postcode"],
            "languages": ["nl"],
            "knows_of_signal": False,
        },
        "concern": {"text": PLANTED["text"], "cues": ["lives_alone", "recently_bereaved"]},
    }
    return body | overrides


async def _events(
    intake: RunningIntake, *signal_ids: str
) -> dict[str, tuple[dict[str, bytes], bytes]]:
    """Read the topic from the start until every given signal's event is there (key → event)."""
    reader = make_reader(intake.infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([intake.received.name])
        got: dict[str, tuple[dict[str, bytes], bytes]] = {}
        for _ in range(60):
            batch = await reader.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    got[(r.key or b"").decode()] = (dict(r.headers), r.value or b"")
            if set(signal_ids) <= got.keys():
                return got
        raise AssertionError(f"events missing on the topic: {set(signal_ids) - got.keys()}")
    finally:
        await reader.stop()


def _signal(
    events: dict[str, tuple[dict[str, bytes], bytes]], signal_id: str
) -> Envelope[SignalReceivedV1]:
    return Envelope[SignalReceivedV1].model_validate_json(events[signal_id][1])


async def test_a_web_form_signal_arrives_sealed_and_in_order(intake: RunningIntake) -> None:
    answer = await intake.client.post("/v1/signals", json=web_form())
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["status"] == "received"

    signal_id = receipt["signal_id"]
    headers, value = (await _events(intake, signal_id))[signal_id]
    key = signal_id.encode()
    event = Envelope[SignalReceivedV1].model_validate_json(value)
    assert event.municipality == "GM0715"  # from postcode 4531
    assert event.data.channel == "web_form"
    assert event.data.subject.age_band == "75_plus"
    assert set(event.data.concern.cues) == {"lives_alone", "recently_bereaved"}
    assert event.data.reporter.may_contact
    assert headers["signaalpunt-event-type"] == b"signaalpunt.signal.received.v1"

    raw = b"".join([key, value, *headers.values()])
    for planted in PLANTED.values():
        assert planted.encode() not in raw, f"{planted!r} readable on the topic"

    status = await intake.client.get(
        receipt["status_url"], headers={"Receipt-Token": receipt["receipt_token"]}
    )
    assert status.json() == {"signal_id": receipt["signal_id"], "status": "received"}
    wrong = await intake.client.get(receipt["status_url"], headers={"Receipt-Token": "guess"})
    assert wrong.status_code == 404


async def test_no_personal_value_is_readable_in_the_database(intake: RunningIntake) -> None:
    assert (await intake.client.post("/v1/signals", json=web_form())).status_code == 202
    conn = await asyncpg.connect(intake.database_url)
    try:
        rows = []
        for table in ("intake.signals", "intake.outbox", "subject_keys.data_keys"):
            rows += [str(tuple(r)) for r in await conn.fetch(f"SELECT * FROM {table}")]
        dump = "\n".join(rows)
    finally:
        await conn.close()
    for planted in PLANTED.values():
        assert planted not in dump, f"{planted!r} readable in the database"


async def test_the_same_person_again_is_linked_not_dropped(intake: RunningIntake) -> None:
    body = web_form(subject={"name": "Pieter Jànssen", "birth_year": 1950, "postcode": "4381 AB"})
    again = web_form(subject={"name": "pieter janssen", "birth_year": 1950, "postcode": "4381ab"})
    first = (await intake.client.post("/v1/signals", json=body)).json()["signal_id"]
    second = (await intake.client.post("/v1/signals", json=again)).json()["signal_id"]
    assert first != second
    event = _signal(await _events(intake, first, second), second)
    assert str(event.data.possible_duplicate_of) == first
    assert event.municipality == "GM0718"


async def test_phone_and_portal_need_the_right_token(intake: RunningIntake) -> None:
    phone = web_form(channel="phone")
    assert (await intake.client.post("/v1/signals", json=phone)).status_code == 401
    elsewhere = await intake.client.post(
        "/v1/signals", json=phone, headers=intake.token(municipality="GM0687")
    )
    assert elsewhere.status_code == 403
    assert "GM0715" in elsewhere.json()["detail"]
    volunteer = await intake.client.post(
        "/v1/signals", json=phone, headers=intake.token(roles=("volunteer",))
    )
    assert volunteer.status_code == 403
    desk = await intake.client.post("/v1/signals", json=phone, headers=intake.token())
    assert desk.status_code == 202

    portal = web_form(
        channel="partner_portal", reporter={"kind": "business", "organisation": "Jumbo Terneuzen"}
    )
    partner = intake.token(
        kind="partner",
        roles=(),
        channels=("partner_portal",),
        partner_type="supermarkt",
        subject="urn:signaalpunt:partner:jumbo-terneuzen",
    )
    accepted = await intake.client.post("/v1/signals", json=portal, headers=partner)
    assert accepted.status_code == 202, accepted.text
    signal_id = accepted.json()["signal_id"]
    reporter = _signal(await _events(intake, signal_id), signal_id).data.reporter
    assert reporter.partner == "urn:signaalpunt:partner:jumbo-terneuzen"
    assert reporter.partner_type == "supermarkt"


async def test_refusals_are_problem_json_with_the_field_named(intake: RunningIntake) -> None:
    outside = await intake.client.post(
        "/v1/signals", json=web_form(subject={"postcode": "1012 AB", "birth_year": 1950})
    )
    assert outside.status_code == 422
    assert outside.headers["content-type"] == "application/problem+json"
    assert "14 + netnummer" in outside.json()["detail"]

    bad = await intake.client.post(
        "/v1/signals",
        json=web_form(
            reporter={"kind": "alien", "may_contact": True},
            subject={"postcode": "4531 PX", "birth_year": 1850},
        ),
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"reporter.kind", "subject.birth_year"} <= fields
    assert all(e["reason_nl"] and e["reason_en"] for e in bad.json()["errors"])
    assert PLANTED["text"] not in bad.text

    not_json = await intake.client.post(
        "/v1/signals",
        content=b'{"channel": "web_form",',
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422
    assert not_json.json()["errors"][0]["type"] == "json_invalid"

    long_key = await intake.client.post(
        "/v1/signals", json=web_form(), headers={"Idempotency-Key": "k" * 201}
    )
    assert long_key.status_code == 422
    assert long_key.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in long_key.json()["errors"]] == ["idempotency-key"]

    # the largest valid signal (5,000 characters of concern text) fits; a body far beyond it is
    # refused before it is read
    longest = web_form(concern={"text": "ë" * 5000, "cues": ["lives_alone"]})
    assert (await intake.client.post("/v1/signals", json=longest)).status_code == 202
    huge = await intake.client.post("/v1/signals", json={**web_form(), "padding": "x" * 70_000})
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert huge.json()["type"].endswith("/too-large")


async def test_idempotency_key(intake: RunningIntake) -> None:
    headers = {"Idempotency-Key": "form-2026-11-23-0001"}
    first = await intake.client.post("/v1/signals", json=web_form(), headers=headers)
    again = await intake.client.post("/v1/signals", json=web_form(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()

    changed = web_form(reported_urgency="high")
    mismatch = await intake.client.post("/v1/signals", json=changed, headers=headers)
    assert mismatch.status_code == 422
    assert mismatch.json()["type"].endswith("idempotency-mismatch")

    racing = {"Idempotency-Key": "form-2026-11-23-0002"}
    answers = await asyncio.gather(
        *(intake.client.post("/v1/signals", json=web_form(), headers=racing) for _ in range(5))
    )
    accepted = {a.json()["signal_id"] for a in answers if a.status_code == 202}
    assert len(accepted) == 1, [a.status_code for a in answers]
    assert {a.status_code for a in answers} <= {202, 409}
    conn = await asyncpg.connect(intake.database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM intake.signals WHERE signal_id = $1::uuid", accepted.pop()
        )
    finally:
        await conn.close()
    assert stored == 1


async def test_many_keys_at_once_each_get_their_own_answer(intake: RunningIntake) -> None:
    # claimed together in groups: every key is new once, and a retry of each gets its own answer
    keys = [f"form-2026-11-23-batch-{i}" for i in range(20)]

    async def send(key: str) -> tuple[int, dict[str, Any]]:
        answer = await intake.client.post(
            "/v1/signals", json=web_form(), headers={"Idempotency-Key": key}
        )
        return answer.status_code, answer.json()

    first = await asyncio.gather(*(send(k) for k in keys))
    retried = await asyncio.gather(*(send(k) for k in keys))
    assert [code for code, _ in first] == [202] * 20
    assert retried == first
    assert len({body["signal_id"] for _, body in first}) == 20


async def test_no_personal_value_reaches_the_logs(intake: RunningIntake) -> None:
    with collected_logs() as lines:
        assert (await intake.client.post("/v1/signals", json=web_form())).status_code == 202
        bad = web_form(subject={"name": PLANTED["subject_name"], "postcode": "1012 AB"})
        assert (await intake.client.post("/v1/signals", json=bad)).status_code == 422
        await asyncio.sleep(1)  # let the relay publish and log
    output = "\n".join(lines)
    assert "signal received" in output, "the test must see intake's own log lines"
    for planted in PLANTED.values():
        assert planted not in output, f"{planted!r} in the logs"


async def test_a_signal_continues_the_callers_trace_into_its_event(intake: RunningIntake) -> None:
    """A request's SERVER span continues the caller's `traceparent`; the event it writes (in a
    group commit's transaction, another task) and its "signal received" log line carry it."""
    trace_id = secrets.token_hex(16)
    caller = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    with collected_logs(logging.INFO) as lines:
        answer = await intake.client.post("/v1/signals", json=web_form(), headers=caller)
        assert answer.status_code == 202
    signal_id = answer.json()["signal_id"]
    headers, _ = (await _events(intake, signal_id))[signal_id]
    # 00-<trace id>-<span id>-<flags>: the relay's PRODUCER span, in the caller's trace
    assert headers["traceparent"].decode().split("-")[1] == trace_id
    received = [json.loads(line) for line in lines if signal_id in line]
    assert [line["trace_id"] for line in received if line["event"] == "signal received"] == [
        trace_id
    ]


async def test_the_anonymous_web_form_is_rate_limited(intake: RunningIntake) -> None:
    settings = intake.service.settings
    saved = (settings.web_form_limit, settings.web_form_window_seconds)  # type: ignore[attr-defined]
    settings.web_form_limit, settings.web_form_window_seconds = 3, 3599  # type: ignore[attr-defined]
    try:
        answers = [await intake.client.post("/v1/signals", json=web_form()) for _ in range(4)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        limited = answers[-1]
        assert limited.headers["content-type"] == "application/problem+json"
        assert 0 < int(limited.headers["retry-after"]) <= 3599
        # staff at the desk are not limited by the web form's limit
        phone = await intake.client.post(
            "/v1/signals", json=web_form(channel="phone"), headers=intake.token()
        )
        assert phone.status_code == 202
    finally:
        settings.web_form_limit, settings.web_form_window_seconds = saved  # type: ignore[attr-defined]


async def test_refused_requests_store_nothing(intake: RunningIntake) -> None:
    async def stored() -> int:
        conn = await asyncpg.connect(intake.database_url)
        try:
            return int(
                await conn.fetchval("SELECT count(*) FROM intake.signals")
                + await conn.fetchval("SELECT count(*) FROM intake.outbox")
            )
        finally:
            await conn.close()

    before = await stored()
    phone = web_form(channel="phone")
    long_ago = int(time.time()) - 7200
    tokens = {
        "expired": mint(
            intake.keys,
            subject="urn:x:desk",
            kind="staff",
            municipalities=["GM0715"],
            roles=["desk"],
            now=long_ago,
            ttl_seconds=600,
        ),
        "wrong audience": mint(
            intake.keys,
            subject="urn:x:desk",
            kind="staff",
            municipalities=["GM0715"],
            roles=["desk"],
            audience="elsewhere",
        ),
    }
    for why, token in tokens.items():
        answer = await intake.client.post(
            "/v1/signals", json=phone, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, why
    forbidden = await intake.client.post(
        "/v1/signals", json=phone, headers=intake.token(municipality="GM0718")
    )
    assert forbidden.status_code == 403
    assert await stored() == before


async def test_more_concurrent_submissions_than_database_connections(intake: RunningIntake) -> None:
    # every submission holds a connection for its transaction while it seals: sealing must never
    # wait for that same pool (the key store has its own), or 40 at once would deadlock
    answers = await asyncio.wait_for(
        asyncio.gather(*(intake.client.post("/v1/signals", json=web_form()) for _ in range(40))),
        timeout=60,
    )
    assert [a.status_code for a in answers] == [202] * 40


async def test_concurrent_signals_about_one_person_are_all_linked(intake: RunningIntake) -> None:
    # submitted at once they are stored in one or a few concurrent group transactions: each but
    # the first must still link to one stored before it, in the database or in its own group
    person = {"name": "Grietje Gelijktijdig", "birth_year": 1938, "postcode": "4501 AA"}
    answers = await asyncio.gather(
        *(intake.client.post("/v1/signals", json=web_form(subject=person)) for _ in range(40))
    )
    assert [a.status_code for a in answers] == [202] * 40
    ids = [a.json()["signal_id"] for a in answers]
    events = await _events(intake, *ids)
    signals = {i: _signal(events, i).data for i in ids}
    firsts = [s for s in signals.values() if s.possible_duplicate_of is None]
    assert len(firsts) == 1, "exactly one signal is the first about this person"
    for start in signals.values():  # every other one leads back to it, without a cycle
        signal, seen = start, {start.signal_id}
        while signal.possible_duplicate_of is not None:
            signal = signals[str(signal.possible_duplicate_of)]
            assert signal.signal_id not in seen, "duplicate links form a cycle"
            seen.add(signal.signal_id)
        assert signal is firsts[0]


async def test_a_signal_stored_while_another_about_that_person_commits_is_linked(
    intake: RunningIntake,
) -> None:
    # the first signal's transaction is held open (a slow insert) while the second one is stored
    # by the other flusher: the second must wait for it and link to it, not pass as a first.
    # (Desk signals: anonymous ones from one address would already wait for each other on their
    # rate-limit count.)
    person = {"name": "Teun Tegelijk", "birth_year": 1944, "postcode": "4501 AB"}
    desk = web_form(channel="phone", subject=person)
    conn = await asyncpg.connect(intake.database_url)
    await conn.execute(
        "CREATE FUNCTION intake.slow_insert() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(0.6); RETURN NEW; END $$;"
        " CREATE TRIGGER slow_insert BEFORE INSERT ON intake.signals"
        " FOR EACH ROW EXECUTE FUNCTION intake.slow_insert()"
    )
    try:
        first = asyncio.create_task(
            intake.client.post(
                "/v1/signals", json=desk, headers=intake.token(municipality="GM1714")
            )
        )
        await asyncio.sleep(0.2)  # the first is inside its insert now
        second = await intake.client.post(
            "/v1/signals", json=desk, headers=intake.token(municipality="GM1714")
        )
        first_id, second_id = (await first).json()["signal_id"], second.json()["signal_id"]
    finally:
        await conn.execute(
            "DROP TRIGGER slow_insert ON intake.signals; DROP FUNCTION intake.slow_insert()"
        )
        await conn.close()
    events = await _events(intake, first_id, second_id)
    assert _signal(events, first_id).data.possible_duplicate_of is None
    assert str(_signal(events, second_id).data.possible_duplicate_of) == first_id


async def test_the_web_form_limit_holds_for_concurrent_submissions(intake: RunningIntake) -> None:
    settings = intake.service.settings
    saved = (settings.web_form_limit, settings.web_form_window_seconds)  # type: ignore[attr-defined]
    settings.web_form_limit, settings.web_form_window_seconds = 4, 3598  # type: ignore[attr-defined]
    conn = await asyncpg.connect(intake.database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM intake.signals")
        answers = await asyncio.gather(
            *(intake.client.post("/v1/signals", json=web_form()) for _ in range(15))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] * 4 + [429] * 11
        assert all(int(a.headers["retry-after"]) > 0 for a in answers if a.status_code == 429)
        assert await conn.fetchval("SELECT count(*) FROM intake.signals") == before + 4
    finally:
        await conn.close()
        settings.web_form_limit, settings.web_form_window_seconds = saved  # type: ignore[attr-defined]


async def test_the_status_page_follows_the_case_and_tells_nothing_more(
    intake: RunningIntake,
) -> None:
    answer = await intake.client.post("/v1/signals", json=web_form())
    assert answer.status_code == 202
    receipt = answer.json()
    signal_id = UUID(receipt["signal_id"])
    token = {"Receipt-Token": receipt["receipt_token"]}

    async def step(state: str, previous: str, name: str, **extra: str) -> None:
        data = CaseStepRecordedV1.model_validate(
            {
                "signal_id": str(signal_id),
                "step": name,
                "previous_state": previous,
                "state": state,
                "route": "team_eenzaamheid",
                "recorded_by": "staff:desk-1",
                "received_at": datetime.now(UTC).isoformat(),
                "recorded_at": datetime.now(UTC).isoformat(),
                **extra,
            }
        )
        event = Envelope.new(data, municipality="GM0715", producer="triage")
        producer = make_producer(intake.infra.kafka_bootstrap, client_id="intake-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                intake.case_steps.name,
                value=event.model_dump_json().encode(),
                key=str(signal_id).encode(),
            )
        finally:
            await producer.stop()

    async def status_becomes(wanted: str) -> dict[str, str]:
        for _ in range(150):
            body = (await intake.client.get(receipt["status_url"], headers=token)).json()
            if body["status"] == wanted:
                return dict(body)
            await asyncio.sleep(0.2)
        raise AssertionError(f"status never became {wanted}: {body}")

    await step("triaged", "received", "triaged")
    assert await status_becomes("being_handled") == {
        "signal_id": str(signal_id),
        "status": "being_handled",
    }
    await step("closed", "triaged", "closed", close_reason="support_arranged")
    assert await status_becomes("handled") == {"signal_id": str(signal_id), "status": "handled"}
    await step("triaged", "closed", "reopened")
    await status_becomes("being_handled")
