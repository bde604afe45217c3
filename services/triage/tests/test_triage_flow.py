"""Triage end to end on the real Kafka and PostgreSQL: signals.received.v1 in, decisions, alerts
and case steps out; the coordinator API with locks, overrides and the lifecycle."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from signaalpunt_contracts import (
    CONTACT_FIELDS,
    FIRST_NAME_FIELD,
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    CloseReason,
    Envelope,
    ReferralUpdatedV1,
    SignalTriagedV1,
)
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_testkit.access_matrix import assert_refused, operations
from triage_harness import RunningTriage


async def raw_values(triage: RunningTriage, topic: str) -> bytes:
    reader = make_reader(triage.infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([topic])
        data = b""
        for _ in range(6):
            for records in (await reader.getmany(timeout_ms=300)).values():
                data += b"".join((r.value or b"") + (r.key or b"") for r in records)
        return data
    finally:
        await reader.stop()


def fired_words(decision: SignalTriagedV1) -> set[str]:
    return {w for f in decision.explanation for w in f.matched_words}


async def test_a_signal_is_triaged_with_its_explanation(triage: RunningTriage) -> None:
    sent = await triage.send("Mevrouw Jansen woont alleen en krijgt nooit bezoek.", birth_year=1944)
    [decision] = await triage.about(triage.topics.triaged, SignalTriagedV1, sent.data.signal_id)
    assert decision.route.value == "team_eenzaamheid"
    assert decision.priority.value == "high"  # 75+ without visitors
    assert [g.value for g in decision.risk_groups] == ["senior_75_plus"]
    assert decision.decided_by.value == "rules"
    assert decision.decision == 1
    assert "+GM0715@" in decision.rules_version
    fired = {f.rule: f.matched for f in decision.explanation}
    assert fired["alone-and-isolated"] == ("text:lives_alone", "text:no_visitors")
    assert "age>=75" in fired["senior-75-plus"]
    # the first-contact deadline is Terneuzen's high priority: one working day
    assert decision.first_contact_due > decision.received_at
    [step] = await triage.about(triage.topics.steps, CaseStepRecordedV1, sent.data.signal_id)
    assert (step.previous_state.value, step.state.value) == ("received", "triaged")
    case = await triage.case(sent.data.signal_id)
    assert case["case"]["state"] == "triaged"
    # nothing of the reporter's own text leaves the service: only cue names and the rules'
    # own words that matched (a fixed vocabulary, reviewed with the rules file)
    assert "no_visitors: krijgen + nooit + bezoek" in fired_words(decision)
    published = await raw_values(triage, triage.topics.triaged.name)
    published += await raw_values(triage, triage.topics.steps.name)
    for word in (b"Jansen", b"Mevrouw", b"krijgt"):
        assert word not in published


async def test_an_acute_signal_alerts_the_coordinator_at_once(triage: RunningTriage) -> None:
    sent = await triage.send("Ze zei gisteren dat ze niet meer wil leven.")
    [alert] = await triage.about(triage.topics.alerts, AcuteSignalAlertV1, sent.data.signal_id)
    assert alert.matched == ("text:suicide_risk",)
    assert [a.value for a in alert.advice] == ["involve_113_or_gp"]
    [decision] = await triage.about(triage.topics.triaged, SignalTriagedV1, sent.data.signal_id)
    assert (decision.route.value, decision.priority.value) == ("acuut", "acute")
    assert decision.needs_review
    assert decision.first_contact_due - sent.data.received_at == timedelta(hours=1)


async def test_a_redelivered_or_replayed_signal_gets_no_second_decision(
    triage: RunningTriage,
) -> None:
    first = await triage.send("Woont alleen", cues=("no_visitors",))
    await triage.send(envelope=first)  # the same event again (redelivery)
    replay = Envelope.new(first.data, municipality="GM0715", producer="intake")
    await triage.send(envelope=replay)  # the same signal under a new event id (a replay)
    decisions = await triage.about(
        triage.topics.triaged, SignalTriagedV1, first.data.signal_id, settle=3.0
    )
    assert len(decisions) == 1
    steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, first.data.signal_id)
    assert len(steps) == 1


async def test_coordinators_override_under_an_edit_lock(triage: RunningTriage) -> None:
    sent = await triage.send("Is erg eenzaam")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    anna = triage.token(subject="staff:regisseur-anna")
    bram = triage.token(subject="staff:regisseur-bram")
    path = f"/v1/triage/signals/{signal_id}"

    taken = await triage.client.post(f"{path}/lock", headers=anna)
    assert taken.status_code == 200
    assert taken.json()["holder"] == "staff:regisseur-anna"
    refused = await triage.client.post(f"{path}/lock", headers=bram)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    blocked = await triage.client.post(
        f"{path}/decisions", headers=bram, json={"route": "acuut", "reason": "gebeld"}
    )
    assert blocked.status_code == 409
    # someone else's lock cannot be released: it stays, and the holder goes on
    released = await triage.client.delete(f"{path}/lock", headers=bram)
    assert released.status_code == 409, released.text
    assert released.headers["content-type"] == "application/problem+json"
    still = await triage.client.get(path, headers=bram)
    assert still.json()["lock"]["holder"] == "staff:regisseur-anna"

    no_reason = await triage.client.post(
        f"{path}/decisions", headers=anna, json={"route": "team_eenzaamheid"}
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"

    changed = await triage.client.post(
        f"{path}/decisions",
        headers=anna,
        json={
            "route": "team_eenzaamheid",
            "priority": "high",
            "risk_groups": ["grief_and_loss"],
            "reason": "Dochter belde: haar man is vorige maand overleden.",
            "based_on_decision": 1,
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["route"], body["priority"], body["decision"]) == ("team_eenzaamheid", "high", 2)
    assert body["decided_by"] == "coordinator"

    decisions = await triage.about(triage.topics.triaged, SignalTriagedV1, signal_id, count=2)
    latest = decisions[-1]
    assert latest.decided_by_staff == "staff:regisseur-anna"
    assert latest.reason is not None
    assert latest.reason.startswith("pd1.")
    opened = await triage.vault.open(sent.data.subject_id, latest.reason, field="triage.reason")
    assert opened == "Dochter belde: haar man is vorige maand overleden."
    assert latest.first_contact_due < decisions[0].first_contact_due  # high: sooner

    released = await triage.client.delete(f"{path}/lock", headers=anna)
    assert released.status_code == 204
    stale = await triage.client.post(
        f"{path}/decisions",
        headers=bram,
        json={"priority": "low", "reason": "toch niet dringend", "based_on_decision": 1},
    )
    assert stale.status_code == 409
    assert "decision 2" in stale.json()["detail"]
    confirmed = await triage.client.post(f"{path}/decisions", headers=bram, json={})
    assert confirmed.status_code == 200
    assert confirmed.json()["decision"] == 3
    assert confirmed.json()["priority"] == "high"


async def test_a_coordinator_turning_a_signal_acute_alerts_once(triage: RunningTriage) -> None:
    sent = await triage.send("Woont alleen")
    await triage.case(sent.data.signal_id)
    path = f"/v1/triage/signals/{sent.data.signal_id}/decisions"
    made_acute = await triage.client.post(
        path, headers=triage.token(), json={"route": "acuut", "reason": "Belde net: wil dood"}
    )
    assert made_acute.status_code == 200
    assert made_acute.json()["priority"] == "acute"
    due = datetime.fromisoformat(made_acute.json()["first_contact_due"])
    assert timedelta(minutes=55) < due - datetime.now(UTC) <= timedelta(hours=1)
    confirmed = await triage.client.post(path, headers=triage.token(), json={})
    assert confirmed.status_code == 200
    alerts = await triage.about(
        triage.topics.alerts, AcuteSignalAlertV1, sent.data.signal_id, settle=2.0
    )
    assert len(alerts) == 1
    assert alerts[0].matched == ("coordinator",)


async def test_the_case_lifecycle_refuses_illegal_steps(triage: RunningTriage) -> None:
    sent = await triage.send("Woont alleen, ziet niemand")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    desk = triage.token(roles=("desk",), subject="staff:desk-1")
    path = f"/v1/triage/signals/{signal_id}/steps"

    async def step(name: str, **extra: str) -> int:
        answer = await triage.client.post(path, headers=desk, json={"step": name, **extra})
        return answer.status_code

    assert await step("intake_done") == 409  # not yet in intake
    assert await step("not_reachable") == 409  # no failed attempts yet
    for _ in range(2):
        assert await step("contact_attempt_failed") == 200
    assert await step("reporter_contacted") == 200
    assert await step("reporter_contacted") == 409  # already in intake
    assert await step("intake_done") == 200
    assert await step("closed") == 409  # needs a reason
    assert await step("closed", close_reason="support_arranged", note="Maatje via Humanitas") == 200
    assert await step("contact_attempt_failed") == 409  # closed
    assert await step("reopened") == 200
    assert await step("triaged") == 409  # only the rules or a decision triage

    steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, signal_id, count=7)
    assert [(s.step.value, s.state.value) for s in steps] == [
        ("triaged", "triaged"),
        ("contact_attempt_failed", "triaged"),
        ("contact_attempt_failed", "triaged"),
        ("reporter_contacted", "in_intake"),
        ("intake_done", "referred"),
        ("closed", "closed"),
        ("reopened", "triaged"),
    ]
    closed = steps[5]
    assert closed.close_reason is not None
    assert closed.close_reason.value == "support_arranged"
    assert closed.note is not None
    assert closed.note.startswith("pd1.")
    case = (await triage.case(signal_id))["case"]
    assert case["first_contact_at"] is not None
    assert case["contact_attempts"] == 2


async def test_not_reachable_after_three_attempts_but_never_for_acute(
    triage: RunningTriage,
) -> None:
    desk = triage.token(roles=("desk",), subject="staff:desk-2")
    ordinary = await triage.send("Woont alleen")
    acute = await triage.send("Hij wil er een eind aan maken")
    for sent in (ordinary, acute):
        await triage.case(sent.data.signal_id)
        for _ in range(3):
            answer = await triage.client.post(
                f"/v1/triage/signals/{sent.data.signal_id}/steps",
                headers=desk,
                json={"step": "contact_attempt_failed"},
            )
            assert answer.status_code == 200
    closed = await triage.client.post(
        f"/v1/triage/signals/{ordinary.data.signal_id}/steps",
        headers=desk,
        json={"step": "not_reachable"},
    )
    assert closed.status_code == 200
    assert (closed.json()["state"], closed.json()["close_reason"]) == ("closed", "not_reachable")
    kept = await triage.client.post(
        f"/v1/triage/signals/{acute.data.signal_id}/steps",
        headers=desk,
        json={"step": "not_reachable"},
    )
    assert kept.status_code == 409
    assert "acute" in kept.json()["detail"]
    desk_close = await triage.client.post(
        f"/v1/triage/signals/{acute.data.signal_id}/steps",
        headers=desk,
        json={"step": "closed", "close_reason": "already_supported"},
    )
    assert desk_close.status_code == 409
    coordinator_close = await triage.client.post(
        f"/v1/triage/signals/{acute.data.signal_id}/steps",
        headers=triage.token(),
        json={"step": "closed", "close_reason": "already_supported"},
    )
    assert coordinator_close.status_code == 200


async def test_review_queue_filters_and_order(triage: RunningTriage) -> None:
    calm = await triage.send("Is eenzaam", urgency="low", municipality="GM0677")
    acute = await triage.send("Snijdt zichzelf", municipality="GM0677")
    old = await triage.send(
        "Woont alleen",
        municipality="GM0677",
        received_at=datetime.now(UTC) - timedelta(days=30),
    )
    hulst = triage.token(municipality="GM0677")
    for sent in (calm, acute, old):
        await triage.case(sent.data.signal_id, municipality="GM0677")
    queue = (await triage.client.get("/v1/triage/queue", headers=hulst)).json()["items"]
    ids = [item["signal_id"] for item in queue]
    assert ids[0] == str(acute.data.signal_id)  # acute first
    assert set(ids) == {str(s.data.signal_id) for s in (calm, acute, old)}
    overdue = await triage.client.get("/v1/triage/queue?overdue=true", headers=hulst)
    assert [i["signal_id"] for i in overdue.json()["items"]] == [str(old.data.signal_id)]
    acute_only = await triage.client.get("/v1/triage/queue?route=acuut", headers=hulst)
    assert [i["signal_id"] for i in acute_only.json()["items"]] == [str(acute.data.signal_id)]
    # by risk group: exactly the cases that have it (the staff console's queue filter)
    for group in {g for i in queue for g in i["risk_groups"]} | {"homeless"}:
        only = await triage.client.get(f"/v1/triage/queue?risk_group={group}", headers=hulst)
        assert [i["signal_id"] for i in only.json()["items"]] == [
            i["signal_id"] for i in queue if group in i["risk_groups"]
        ], group
    bad = await triage.client.get("/v1/triage/queue?route=somewhere", headers=hulst)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.route"


async def test_access_is_checked(triage: RunningTriage) -> None:
    sent = await triage.send("Woont alleen")
    await triage.case(sent.data.signal_id)
    path = f"/v1/triage/signals/{sent.data.signal_id}"
    assert (await triage.client.get(path)).status_code == 401
    other_municipality = triage.token(municipality="GM0687")
    assert (await triage.client.get(path, headers=other_municipality)).status_code == 404
    queue = await triage.client.get(
        "/v1/triage/queue?municipality=GM0715", headers=other_municipality
    )
    assert queue.status_code == 403
    partner = triage.token(kind="partner", roles=("coordinator",))
    assert (await triage.client.get(path, headers=partner)).status_code == 403
    desk = triage.token(roles=("desk",))
    decision = await triage.client.post(
        f"{path}/decisions", headers=desk, json={"route": "acuut", "reason": "x"}
    )
    assert decision.status_code == 403
    lock = await triage.client.post(f"{path}/lock", headers=desk)
    assert lock.status_code == 403
    await asyncio.sleep(0)


async def test_an_edit_lock_expires(triage: RunningTriage) -> None:
    sent = await triage.send("Is eenzaam")
    await triage.case(sent.data.signal_id)
    path = f"/v1/triage/signals/{sent.data.signal_id}/lock"
    anna = triage.token(subject="staff:regisseur-anna")
    bram = triage.token(subject="staff:regisseur-bram")
    start = datetime.now(UTC)
    try:
        triage.clock.frozen = start
        assert (await triage.client.post(path, headers=anna)).status_code == 200
        triage.clock.frozen = start + timedelta(minutes=9)
        assert (await triage.client.post(path, headers=bram)).status_code == 409
        triage.clock.frozen = start + timedelta(minutes=11)  # anna went for coffee
        taken = await triage.client.post(path, headers=bram)
        assert taken.status_code == 200
        assert taken.json()["holder"] == "staff:regisseur-bram"
    finally:
        triage.clock.frozen = None


async def test_no_concern_words_in_logs_and_decisions_counted(
    triage: RunningTriage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = "Planteroogje Zwavelstokje wil niet meer leven"
    sent = await triage.send(planted, birth_year=1950)
    await triage.about(triage.topics.alerts, AcuteSignalAlertV1, sent.data.signal_id)
    await triage.case(sent.data.signal_id)
    assert str(sent.data.signal_id) in caplog.text  # the decision was logged, by id
    for word in ("Planteroogje", "Zwavelstokje", "leven"):
        assert word not in caplog.text
    metrics = (await triage.management.get("/metrics")).text
    assert "\nsignaalpunt_triage_acute_alerts_total " in metrics
    # the consortium's count only: per municipality, its step would tell this one signal
    assert "municipality=" not in metrics
    # HTTP requests are measured by route template; the ids in the paths never become labels
    assert (
        'signaalpunt_http_request_duration_seconds_count{method="GET",'
        'route="/v1/triage/signals/{signal_id}",status="200"}' in metrics
    )
    assert str(sent.data.signal_id) not in metrics
    assert (
        'signaalpunt_triage_decisions_published_total{decided_by="rules",'
        'priority="acute",route="acuut"}' in metrics
    )


async def test_the_help_question_is_a_case_step_with_its_words_sealed(
    triage: RunningTriage,
) -> None:
    sent = await triage.send("Voelt zich alleen sinds haar man overleed", birth_year=1948)
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    desk = triage.token(roles=("desk",), subject="staff:desk-1")
    path = f"/v1/triage/signals/{signal_id}/steps"
    question = {
        "needs": ["grief_support", "buddy"],
        "text": "Wil graag praten met lotgenoten",
        "languages": ["nl", "de"],
        "mobility": "needs_transport",
        "age": 78,
        "near_lat": 51.3347,
        "near_lon": 3.8291,
        "consent_to_refer": True,
        # what a volunteer match needs: the first name sealed, the rest as vocabulary
        "first_name": "Truus",
        "interests": ["walking", "music"],
        "availability": ["tue_afternoon"],
        "start_on": "2027-01-04",
        # how the organisation may reach her: given only because she agreed to that too
        "contact": {"name": "Truus de Vries", "phone": "0115 123 456"},
    }
    early = await triage.client.post(
        path, headers=desk, json={"step": "help_question_recorded", "help_question": question}
    )
    assert early.status_code == 409  # nobody has spoken with the person yet
    contacted = await triage.client.post(path, headers=desk, json={"step": "reporter_contacted"})
    assert contacted.status_code == 200
    missing = await triage.client.post(path, headers=desk, json={"step": "help_question_recorded"})
    assert missing.status_code == 409
    bad = await triage.client.post(
        path,
        headers=desk,
        json={"step": "help_question_recorded", "help_question": {**question, "needs": ["x"]}},
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    control = await triage.client.post(
        path,
        headers=desk,
        json={
            "step": "help_question_recorded",
            "help_question": {**question, "first_name": "Tr\u0000uus"},
        },
    )
    assert control.status_code == 422, control.text
    assert "first_name" in control.text
    bad_phone = await triage.client.post(
        path,
        headers=desk,
        json={
            "step": "help_question_recorded",
            "help_question": {**question, "contact": {"phone": "bel me maar"}},
        },
    )
    assert bad_phone.status_code == 422, bad_phone.text
    assert "contact.phone" in bad_phone.text
    recorded = await triage.client.post(
        path, headers=desk, json={"step": "help_question_recorded", "help_question": question}
    )
    assert recorded.status_code == 200
    assert recorded.json()["state"] == "in_intake"  # the step does not move the case

    steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, signal_id, count=3)
    hq = steps[-1]
    assert hq.step.value == "help_question_recorded"
    assert hq.help_question is not None
    assert [n.value for n in hq.help_question.needs] == ["grief_support", "buddy"]
    assert hq.help_question.near is not None
    assert (hq.help_question.near.lat, hq.help_question.near.lon) == (51.33, 3.83)
    assert hq.help_question.text is not None
    assert hq.help_question.text.startswith("pd1.")
    assert "lotgenoten" not in hq.model_dump_json()
    opened = await triage.vault.open(
        sent.data.subject_id, hq.help_question.text, field="help_question.text"
    )
    assert opened == "Wil graag praten met lotgenoten"
    assert "Truus" not in hq.model_dump_json()
    assert hq.help_question.first_name is not None
    name = await triage.vault.open(
        sent.data.subject_id, hq.help_question.first_name, field=FIRST_NAME_FIELD
    )
    assert name == "Truus"
    assert hq.help_question.interests == ("walking", "music")
    assert hq.help_question.availability == ("tue_afternoon",)
    assert str(hq.help_question.start_on) == "2027-01-04"
    assert "0115 123 456" not in hq.model_dump_json()
    assert hq.help_question.consent_to_share_contact is True
    contact = hq.help_question.contact
    assert contact is not None
    assert contact.email is None
    assert contact.phone is not None
    phone = await triage.vault.open(
        sent.data.subject_id, contact.phone, field=CONTACT_FIELDS["phone"]
    )
    assert phone == "0115 123 456"
    assert hq.risk_groups is not None
    assert hq.subject_id == sent.data.subject_id


async def test_every_operation_is_for_staff_only(triage: RunningTriage) -> None:
    document = (await triage.management.get("/openapi.json")).json()
    every_role = ("coordinator", "desk", "operator", "volunteer")
    checked = await assert_refused(
        triage.client,
        document,
        lambda kind: triage.token(kind=kind, roles=every_role),
        refused_kinds=("partner", "service"),
    )
    assert checked == len(operations(document)) >= 6


async def test_referral_progress_shows_on_the_case_timeline(triage: RunningTriage) -> None:
    sent = await triage.send("Zoekt gezelschap", birth_year=1950)
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    assert triage.topics.referrals is not None
    producer = make_producer(triage.infra.kafka_bootstrap, client_id="triage-tests")
    await producer.start()
    try:
        for version, status in enumerate(("proposed", "sent", "accepted", "completed"), start=1):
            update = ReferralUpdatedV1.model_validate(
                {
                    **ReferralUpdatedV1.examples[0],
                    "signal_id": str(signal_id),
                    "status": status,
                    "version": version,
                }
            )
            await producer.send_and_wait(
                triage.topics.referrals.name,
                value=Envelope.new(update, municipality="GM0715", producer="referral")
                .model_dump_json()
                .encode(),
                key=str(signal_id).encode(),
            )
    finally:
        await producer.stop()
    for _ in range(200):
        steps = (await triage.case(signal_id))["steps"]
        if len(steps) >= 4:
            break
        await asyncio.sleep(0.1)
    assert [s["step"] for s in steps] == [
        "triaged",
        "referral_sent",
        "referral_accepted",
        "referral_completed",
    ]
    assert {s["state"] for s in steps} == {"triaged"}  # the case itself does not move
    closed = await triage.client.post(
        f"/v1/triage/signals/{signal_id}/steps",
        headers=triage.token(),
        json={"step": "closed", "close_reason": "support_arranged"},
    )
    assert closed.status_code == 200


async def _publish_referral_changes(
    triage: RunningTriage, signal_id: UUID, changes: list[tuple[UUID, str, int]]
) -> None:
    assert triage.topics.referrals is not None
    producer = make_producer(triage.infra.kafka_bootstrap, client_id="triage-tests")
    await producer.start()
    try:
        for referral_id, status, version in changes:
            update = ReferralUpdatedV1.model_validate(
                {
                    **ReferralUpdatedV1.examples[0],
                    "referral_id": str(referral_id),
                    "signal_id": str(signal_id),
                    "status": status,
                    "version": version,
                }
            )
            await producer.send_and_wait(
                triage.topics.referrals.name,
                value=Envelope.new(update, municipality="GM0715", producer="referral")
                .model_dump_json()
                .encode(),
                key=str(signal_id).encode(),
            )
    finally:
        await producer.stop()


async def _timeline(triage: RunningTriage, signal_id: UUID, count: int) -> dict[str, Any]:
    for _ in range(200):
        detail = await triage.case(signal_id)
        if len(detail["steps"]) >= count:
            break
        await asyncio.sleep(0.1)
    return detail


async def test_a_referral_shows_once_per_change_and_the_team_closes_with_its_outcome(
    triage: RunningTriage,
) -> None:
    """A volunteer match asks volunteers in turn: each attempt is a new `sent` version of the
    same referral, and the timeline showed `referral_sent` once per volunteer asked. And a
    completed referral lets the team close the case with that outcome."""
    sent = await triage.send("Zoekt een maatje om mee te wandelen", birth_year=1950)
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    team = triage.token(roles=("desk",), subject="staff:team-1")
    steps_path = f"/v1/triage/signals/{signal_id}/steps"
    too_early = await triage.client.post(
        steps_path, headers=team, json={"step": "closed", "close_with_referral_outcome": True}
    )
    assert too_early.status_code == 409, too_early.text
    assert "no referral" in too_early.json()["detail"]

    match, offer = uuid4(), uuid4()
    await _publish_referral_changes(
        triage,
        signal_id,
        [
            (match, "sent", 1),  # the first volunteer is asked
            (match, "sent", 2),  # declined: the second is asked
            (match, "sent", 3),  # expired: the third is asked
            (offer, "sent", 1),
            (match, "accepted", 4),
            (match, "in_progress", 5),
            (match, "completed", 6),
        ],
    )
    detail = await _timeline(triage, signal_id, 6)
    timeline = [(s["step"], s["referral_id"]) for s in detail["steps"]]
    assert timeline == [
        ("triaged", None),
        ("referral_sent", str(match)),
        ("referral_sent", str(offer)),
        ("referral_accepted", str(match)),
        ("referral_in_progress", str(match)),
        ("referral_completed", str(match)),
    ]
    assert detail["referral_outcome"] == {
        "referral_id": str(match),
        "status": "completed",
        "close_reason": "support_arranged",
    }
    both = await triage.client.post(
        steps_path,
        headers=team,
        json={
            "step": "closed",
            "close_reason": "duplicate",
            "close_with_referral_outcome": True,
        },
    )
    assert both.status_code == 409
    closed = await triage.client.post(
        steps_path, headers=team, json={"step": "closed", "close_with_referral_outcome": True}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["close_reason"] == "support_arranged"
    steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, signal_id, count=2)
    assert steps[-1].close_reason is CloseReason.SUPPORT_ARRANGED


async def test_the_desk_confirms_a_help_question_drafted_from_the_cues(
    triage: RunningTriage,
) -> None:
    """What the reporter observed already points to needs: a recent loss to grief support,
    money worries to debt help, poor mobility to practical help and transport. The desk sees a
    draft, asks the person (and for consent, which the draft never assumes) and records it."""
    sent = await triage.send(
        "Sinds haar man overleed komt ze de deur niet meer uit",
        cues=("recently_bereaved", "lives_alone", "financial_worries", "low_mobility"),
        birth_year=1946,
    )
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    desk = triage.token(roles=("desk",), subject="staff:desk-1")
    drafted = await triage.client.get(
        f"/v1/triage/signals/{signal_id}/help-question-draft", headers=desk
    )
    assert drafted.status_code == 200, drafted.text
    draft = drafted.json()
    assert set(draft["needs"]) == {
        "grief_support",
        "social_contact",
        "buddy",  # "komt de deur niet meer uit": the text cue no_visitors
        "debt_money",
        "practical_help",
    }
    assert "no_visitors" in draft["from_cues"]
    assert draft["mobility"] == "needs_transport"
    assert draft["derived_from_cues"] is True
    assert "consent_to_refer" not in draft
    assert "recently_bereaved" in draft["from_cues"]
    elsewhere = await triage.client.get(
        f"/v1/triage/signals/{signal_id}/help-question-draft",
        headers=triage.token(roles=("desk",), municipality="GM0363"),
    )
    assert elsewhere.status_code == 404

    path = f"/v1/triage/signals/{signal_id}/steps"
    assert (
        await triage.client.post(path, headers=desk, json={"step": "reporter_contacted"})
    ).status_code == 200
    question = {k: draft[k] for k in ("needs", "mobility", "derived_from_cues")}
    recorded = await triage.client.post(
        path,
        headers=desk,
        json={
            "step": "help_question_recorded",
            "help_question": {**question, "consent_to_refer": True},
        },
    )
    assert recorded.status_code == 200, recorded.text
    steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, signal_id, count=3)
    assert steps[-1].help_question is not None
    assert steps[-1].help_question.derived_from_cues is True
    assert set(steps[-1].help_question.needs) == set(draft["needs"])
