"""Every rule end to end: events on the real Kafka → the delivery log in PostgreSQL → a real SMTP
server, SMS gateway and webhook endpoint; outcomes on notifications.v1; failures parked."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from notifications_harness import (
    PARTNER_SECRET,
    UNREACHABLE_PARTNER,
    Running,
    acute,
    closed,
    deadline_missed,
    envelope,
    eventually,
    outcomes,
    read_all,
    received_signal,
    rejected,
    triaged,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from signaalpunt_contracts import Envelope, NotificationV1, ReferralUpdatedV1, SignalTriagedV1
from signaalpunt_contracts.notifications import MessageChannel, RecipientKind
from signaalpunt_notifications.domain import Message, RateLimit, Rule, RuleContext
from signaalpunt_notifications.rules import TRIAGED
from signaalpunt_notifications.sender import Sender
from signaalpunt_notifications.sinks import ReceivedMail, ReceivedRequest
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_testkit.access_matrix import assert_refused, operations
from signaalpunt_testkit.logs import collected_logs
from signaalpunt_testkit.outages import postgres_down
from standardwebhooks import Webhook

DOMAIN = "notifications.signaalpunt.example"


def mails(running: Running, delivery_ids: Sequence[UUID]) -> list[ReceivedMail]:
    wanted = {f"<{d}@{DOMAIN}>" for d in delivery_ids}
    with running.sinks.received.lock:
        return [m for m in running.sinks.received.mails if m.message_id in wanted]


def sms(running: Running, delivery_ids: Sequence[UUID]) -> list[ReceivedRequest]:
    wanted = {str(d) for d in delivery_ids}
    with running.sinks.received.lock:
        return [r for r in running.sinks.received.sms if r.json()["reference"] in wanted]


async def settled(running: Running, want: int, **where: Any) -> list[dict[str, Any]]:
    """Wait until `want` deliveries match and none is pending any more."""
    rows: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal rows
        rows = await running.deliveries(**where)
        return len(rows) == want and all(r["status"] != "pending" for r in rows)

    await eventually(done, what=f"{want} settled deliveries for {where}")
    return rows


async def sealed(running: Running, subject_id: UUID, value: str, field: str) -> str:
    return await running.vault.seal(subject_id, "GM0715", value, field=field)


# -- reporter ------------------------------------------------------------------------------------


async def test_reporter_acknowledged_once_by_email_even_when_the_event_comes_twice(
    notifications: Running,
) -> None:
    subject = uuid4()
    address = f"melder-{subject.hex[:8]}@example.org"
    signal = received_signal(
        subject_id=subject, email=await sealed(notifications, subject, address, "reporter.email")
    )
    event = envelope(signal)
    await notifications.publish(event, times=2)  # a redelivery: the same event id twice

    (row,) = await settled(notifications, 1, signal_id=signal.signal_id)
    assert (row["template"], row["status"], row["language"]) == ("reporter_received", "sent", "nl")
    await asyncio.sleep(1.5)  # room for a second message, which must not come
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert mail.recipients == (address,)
    assert "ontvangen" in mail.subject
    assert "vertrouwelijk" in mail.text()
    assert "Terneuzen" in mail.text()
    assert "14 0115" in mail.text()
    assert "<strong>ontvangen</strong>" in mail.html()

    async def published() -> bool:
        return any(
            o.data.notification_id == row["delivery_id"] for o in await outcomes(notifications)
        )

    await eventually(published, what="notifications.v1 sent")
    sent = [
        o for o in await outcomes(notifications) if o.data.notification_id == row["delivery_id"]
    ]
    assert [o.data.status.value for o in sent] == ["sent"]
    assert sent[0].causation_id == event.event_id
    assert address not in sent[0].model_dump_json()
    assert row["address"] == "{}" or json.loads(row["address"]) == {}  # forgotten once sent


async def test_no_acknowledgement_without_may_contact(notifications: Running) -> None:
    subject = uuid4()
    email = await sealed(notifications, subject, "stil@example.org", "reporter.email")
    quiet = received_signal(subject_id=subject, email=email, may_contact=False)
    event = await notifications.publish(envelope(quiet))
    await eventually(lambda: notifications.handled(event.event_id), what="event handled")
    assert await notifications.deliveries(signal_id=quiet.signal_id) == []


async def test_sms_acknowledgement_in_english_for_a_reporter_with_only_a_phone(
    notifications: Running,
) -> None:
    notifications.clock.at_local(12, 0)  # daytime: no quiet hours
    try:
        subject = uuid4()
        phone = "+31611223344"
        signal = received_signal(
            subject_id=subject,
            phone=await sealed(notifications, subject, phone, "reporter.phone"),
            languages=("en",),
        )
        await notifications.publish(envelope(signal))
        (row,) = await settled(notifications, 1, signal_id=signal.signal_id)
    finally:
        notifications.clock.reset()
    assert (row["channel"], row["language"], row["status"]) == ("sms", "en", "sent")
    (text,) = sms(notifications, [row["delivery_id"]])
    body = text.json()
    assert body["recipients"] == [phone]
    assert "has been received" in body["body"]
    assert text.headers["authorization"] == "AccessKey dev-access-key"
    assert text.headers["idempotency-key"] == str(row["delivery_id"])


async def test_feedback_being_handled_then_handled_and_assignments_follow_the_route(
    notifications: Running,
) -> None:
    subject = uuid4()
    address = f"feedback-{subject.hex[:8]}@example.org"
    signal = received_signal(
        subject_id=subject,
        email=await sealed(notifications, subject, address, "reporter.email"),
        wants_feedback=True,
    )
    sid = signal.signal_id
    # triage's decision arrives before intake's event (different topics): still one of each
    await notifications.publish(envelope(triaged(sid, subject, decision=1)))
    await settled(notifications, 1, signal_id=sid)
    await notifications.publish(envelope(signal))
    await settled(notifications, 3, signal_id=sid)
    await notifications.publish(envelope(triaged(sid, subject, decision=2, route="team_welzijn")))
    await notifications.publish(envelope(triaged(sid, subject, decision=3, route="team_welzijn")))
    await settled(notifications, 4, signal_id=sid)
    await notifications.publish(envelope(closed(sid)))
    rows = await settled(notifications, 5, signal_id=sid)

    by_template: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_template.setdefault(row["template"], []).append(row)
    assert sorted((t, len(r)) for t, r in by_template.items()) == [
        ("reporter_handled", 1),
        ("reporter_in_progress", 1),
        ("reporter_received", 1),
        ("route_assignment", 2),
    ]
    first, second = by_template["route_assignment"]
    assert (first["recipient"], second["recipient"]) == (
        "mailbox:GM0715:team_eenzaamheid",
        "mailbox:GM0715:team_welzijn",
    )
    assignment_mails = mails(notifications, [first["delivery_id"], second["delivery_id"]])
    assert {m.recipients for m in assignment_mails} == {
        ("eenzaamheid@terneuzen.signaalpunt.example",),
        ("welzijn@terneuzen.signaalpunt.example",),
    }
    rerouted = next(
        m for m in assignment_mails if m.message_id.startswith(f"<{second['delivery_id']}")
    )
    assert "Doorgezet" in rerouted.subject
    assert "team eenzaamheid" in rerouted.text()
    reporter_mails = mails(notifications, [r["delivery_id"] for r in rows])
    to_reporter = [m for m in reporter_mails if m.recipients == (address,)]
    assert sorted(m.subject.split(" – ")[0] for m in to_reporter) == [
        "Uw melding is afgehandeld",
        "Uw melding is in behandeling",
        "Uw melding is ontvangen",
    ]
    for m in to_reporter:  # the state only, never what the signal was about
        assert "team" not in m.text()
        assert "eenzaam" not in m.text().replace("Eenzaamheid", "")


# -- coordinator --------------------------------------------------------------------------------


async def test_acute_alert_reaches_the_coordinator_on_duty_by_email_and_sms_at_night(
    notifications: Running,
) -> None:
    notifications.clock.at_local(23, 30)  # quiet hours: acute alerts ignore them
    try:
        signal_id, subject = uuid4(), uuid4()
        await notifications.publish(envelope(acute(signal_id, subject)))
        rows = await settled(notifications, 2, signal_id=signal_id)
    finally:
        notifications.clock.reset()
    assert {(r["channel"], r["status"], r["urgency"]) for r in rows} == {
        ("email", "sent", "acute"),
        ("sms", "sent", "acute"),
    }
    (mail,) = mails(notifications, [r["delivery_id"] for r in rows])
    (text,) = sms(notifications, [r["delivery_id"] for r in rows])
    # out of roster hours: the fixed on-call contact
    assert mail.recipients == ("regisseur-dienst@terneuzen.signaalpunt.example",)
    assert text.json()["recipients"] == ["+31600000715"]
    assert mail.subject.startswith("ACUUT")
    assert "113" in mail.text()
    assert "113" in text.json()["body"]


async def test_missed_deadline_to_the_coordinator_in_the_municipality_language(
    notifications: Running,
) -> None:
    signal_id = uuid4()
    await notifications.publish(envelope(deadline_missed(signal_id), municipality="GM1714"))
    (row,) = await settled(notifications, 1, signal_id=signal_id)
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert row["language"] == "en"
    assert mail.subject.startswith("Deadline missed")
    assert mail.language == "en"
    assert mail.recipients == ("regisseur@sluis.signaalpunt.example",)
    assert "Kind regards" not in mail.text()  # staff mail is signed by the consortium


async def test_a_referral_mails_the_organisation_and_a_decline_the_team(
    notifications: Running,
) -> None:
    signal_id = uuid4()
    base = {**ReferralUpdatedV1.examples[0], "signal_id": str(signal_id)}
    sent = ReferralUpdatedV1.model_validate(base)
    await notifications.publish(envelope(sent))
    (row,) = await settled(notifications, 1, signal_id=signal_id)
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert mail.recipients == ("maatjes@humanitas.example",)
    assert mail.subject == "Nieuwe verwijzing voor Maatjesproject Terneuzen"
    assert "buddy" in mail.text()
    declined = ReferralUpdatedV1.model_validate(
        {**base, "status": "declined", "decline_reason": "waiting_list", "referral_email": None}
    )
    await notifications.publish(envelope(declined))
    rows = await settled(notifications, 2, signal_id=signal_id)
    team = next(r for r in rows if r["delivery_id"] != row["delivery_id"])
    (to_team,) = mails(notifications, [team["delivery_id"]])
    assert to_team.subject.startswith("Afgewezen: verwijzing")
    assert "waiting_list" in to_team.text()


# -- partners ------------------------------------------------------------------------------------


async def test_refusal_reaches_the_partner_as_a_signed_webhook(notifications: Running) -> None:
    refusal = rejected(event_id="hap-2026-000777")
    event = await notifications.publish(envelope(refusal))
    (row,) = await settled(notifications, 1, reason_event_id=event.event_id)
    assert row["status"] == "sent"
    with notifications.sinks.received.lock:
        (hook,) = [
            w
            for w in notifications.sinks.received.webhooks
            if w.headers["webhook-id"] == str(row["delivery_id"])
        ]
    # verified by an independent implementation of the spec
    payload = Webhook(PARTNER_SECRET).verify(hook.body, hook.headers)
    assert payload["type"] == "signal.rejected"
    assert payload["data"]["partner_event_id"] == "hap-2026-000777"
    assert payload["data"]["field_errors"][0]["field"] == "subject.birth_year"
    assert "niet aangenomen" in payload["data"]["message"]
    with pytest.raises(Exception, match="ignature"):
        Webhook("whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==").verify(hook.body, hook.headers)


async def test_a_gone_webhook_fails_once_with_an_event_and_a_dead_letter(
    notifications: Running,
) -> None:
    refusal = rejected(partner=UNREACHABLE_PARTNER)
    event = await notifications.publish(envelope(refusal, municipality="GM0687"))
    (row,) = await settled(notifications, 1, reason_event_id=event.event_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)  # 410: permanent, no retries
    assert row["last_error"] == "webhook endpoint answered HTTP 410"

    dlq = notifications.topics.rejections.dead_letter_topic("notifications")

    async def parked() -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
        records = await read_all(notifications.infra.kafka_bootstrap, dlq)
        return [
            r
            for r in records
            if r[2].get("notifications-delivery-id") == str(row["delivery_id"]).encode()
        ]

    async def any_parked() -> bool:
        return bool(await parked())

    await eventually(any_parked, what="dead letter")
    ((_, value, headers),) = await parked()
    assert json.loads(value)["event_id"] == str(event.event_id)
    assert headers["dlq-error-message"] == b"webhook endpoint answered HTTP 410"
    assert headers["dlq-original-topic"] == notifications.topics.rejections.name.encode()

    async def failed_event() -> bool:
        return any(
            o.data.notification_id == row["delivery_id"] and o.data.status.value == "failed"
            for o in await outcomes(notifications)
        )

    await eventually(failed_event, what="notifications.v1 failed")

    # the partner fixes its endpoint; an operator sends the message again, under the same id
    sinks = notifications.sinks
    original = sinks.responder
    sinks.responder = lambda _path, _headers, _body: 200
    try:
        answer = await notifications.client.post(
            f"/v1/deliveries/{row['delivery_id']}/retry",
            params={"municipality": "GM0687"},
            headers=notifications.token(municipality="GM0687"),
        )
        assert answer.status_code == 202
        (again,) = await settled(notifications, 1, reason_event_id=event.event_id)
    finally:
        sinks.responder = original
    assert again["status"] == "sent"
    with sinks.received.lock:
        hooks = [w for w in sinks.received.webhooks if w.path.endswith("/gone")]
    assert [h.headers["webhook-id"] for h in hooks] == [str(row["delivery_id"])]
    assert hooks[0].json()["data"]["message"].startswith("Your signal")  # the partner reads English


async def test_transient_gateway_errors_are_retried_with_the_same_reference(
    notifications: Running,
) -> None:
    sinks = notifications.sinks
    failures = {"left": 2}
    original = sinks.responder

    def flaky(path: str, headers: dict[str, str], body: bytes) -> int:
        if path == "/messages" and failures["left"] > 0:
            failures["left"] -= 1
            return 503
        return original(path, headers, body)

    sinks.responder = flaky
    try:
        signal_id = uuid4()
        await notifications.publish(envelope(acute(signal_id, uuid4())))
        rows = await settled(notifications, 2, signal_id=signal_id)
    finally:
        sinks.responder = original
    text_row = next(r for r in rows if r["channel"] == "sms")
    assert (text_row["status"], text_row["attempts"]) == ("sent", 3)
    with sinks.received.lock:
        refused = [r for r in sinks.received.refused if r.path == "/messages"]
    assert [r.json()["reference"] for r in refused[-2:]] == [str(text_row["delivery_id"])] * 2


async def test_a_permanent_smtp_refusal_fails_the_message(notifications: Running) -> None:
    subject = uuid4()
    address = f"bestaat-niet-{subject.hex[:6]}@example.org"
    notifications.sinks.refuse_mail.add(address)
    signal = received_signal(
        subject_id=subject, email=await sealed(notifications, subject, address, "reporter.email")
    )
    await notifications.publish(envelope(signal))
    (row,) = await settled(notifications, 1, signal_id=signal.signal_id)
    assert row["status"] == "failed"
    assert row["last_error"] == "SMTP server refused permanently (550)"
    assert address not in row["last_error"]


# -- quiet hours, rate limit and a rule added from outside -----------------------------------------


def volunteer_rule(signals: set[UUID], phone_sealed: dict[UUID, tuple[UUID, str]]) -> Rule:
    """What the matching service will add: a proposal to a volunteer with accept/decline links."""

    def plan(event: Envelope[Any], context: RuleContext) -> list[Message]:
        data: SignalTriagedV1 = event.data
        if data.signal_id not in signals:
            return []
        volunteer, value = phone_sealed[data.signal_id]
        token = uuid4().hex
        return [
            Message(
                rule="match-proposal-to-volunteer",
                template="volunteer_match_proposal",
                channel=MessageChannel.SMS,
                recipient_kind=RecipientKind.VOLUNTEER,
                recipient=f"volunteer:{volunteer}",
                address={
                    "kind": "sealed",
                    "subject_id": str(volunteer),
                    "value": value,
                    "field": "volunteer.phone",
                },
                language="nl",
                context={
                    "accept_link": f"https://signaalpunt.example/m/{token}/ja",
                    "decline_link": f"https://signaalpunt.example/m/{token}/nee",
                },
                quiet_hours=True,
                signal_id=data.signal_id,
            )
        ]

    return Rule("match-proposal-to-volunteer", TRIAGED, plan)


async def test_a_rule_added_later_texts_a_volunteer_but_not_at_night(
    notifications: Running,
) -> None:
    signal_id, subject, volunteer = uuid4(), uuid4(), uuid4()
    phone = "+31655544433"
    value = await notifications.vault.seal(volunteer, "GM0715", phone, field="volunteer.phone")
    notifications.notifications.rules.register(
        volunteer_rule({signal_id}, {signal_id: (volunteer, value)})
    )

    night = notifications.clock.at_local(22, 15)
    try:
        await notifications.publish(envelope(triaged(signal_id, subject, route="team_welzijn")))

        async def queued() -> bool:
            rows = await notifications.deliveries(
                signal_id=signal_id, template="volunteer_match_proposal"
            )
            return bool(rows) and rows[0]["queued_reason"] == "quiet_hours"

        await eventually(queued, what="the proposal queued for the morning")
        (row,) = await notifications.deliveries(
            signal_id=signal_id, template="volunteer_match_proposal"
        )
        morning = night.replace(hour=8, minute=0) + timedelta(days=1)
        assert row["next_attempt_at"] == morning
        await asyncio.sleep(1)
        assert sms(notifications, [row["delivery_id"]]) == []

        notifications.clock.set(morning + timedelta(seconds=1))
        (row,) = await settled(
            notifications, 1, signal_id=signal_id, template="volunteer_match_proposal"
        )
    finally:
        notifications.clock.reset()
    (text,) = sms(notifications, [row["delivery_id"]])
    assert text.json()["recipients"] == [phone]
    assert "https://signaalpunt.example/m/" in text.json()["body"]
    statuses = [
        o.data.status.value
        for o in await outcomes(notifications)
        if o.data.notification_id == row["delivery_id"]
    ]
    assert statuses[:1] == ["queued"]

    async def sent_event() -> bool:
        return "sent" in [
            o.data.status.value
            for o in await outcomes(notifications)
            if o.data.notification_id == row["delivery_id"]
        ]

    await eventually(sent_event, what="queued, then sent")


async def test_rate_limit_queues_the_excess_and_sends_it_later(notifications: Running) -> None:
    sender = notifications.notifications.sender
    original = sender.policies
    sender.policies = replace(original, rate_limit=RateLimit(2, timedelta(hours=1)))
    try:
        signals = [uuid4() for _ in range(4)]
        for signal_id in signals:
            await notifications.publish(envelope(deadline_missed(signal_id), municipality="GM0718"))

        async def split() -> bool:
            rows = await notifications.deliveries(recipient="coordinator:GM0718")
            sent = [r for r in rows if r["status"] == "sent"]
            waiting = [r for r in rows if r["queued_reason"] == "rate_limit"]
            return len(sent) == 2 and len(waiting) == 2

        await eventually(split, what="two sent, two queued")
        notifications.clock.set(notifications.clock() + timedelta(hours=1, minutes=1))
        rows = await settled(notifications, 4, recipient="coordinator:GM0718")
    finally:
        sender.policies = original
        notifications.clock.reset()
    assert all(r["status"] == "sent" for r in rows)


# -- the operators' endpoint and the logs ---------------------------------------------------------


async def test_operators_see_deliveries_of_their_municipality_without_addresses(
    notifications: Running,
) -> None:
    subject = uuid4()
    address = f"zichtbaar-{subject.hex[:6]}@example.org"
    signal = received_signal(
        subject_id=subject, email=await sealed(notifications, subject, address, "reporter.email")
    )
    await notifications.publish(envelope(signal))
    await settled(notifications, 1, signal_id=signal.signal_id)
    client = notifications.client

    answer = await client.get(
        "/v1/deliveries", params={"municipality": "GM0715"}, headers=notifications.token()
    )
    assert answer.status_code == 200, answer.text
    listed = answer.json()["deliveries"]
    mine = [d for d in listed if d["signal_id"] == str(signal.signal_id)]
    assert mine[0]["template"] == "reporter_received"
    assert mine[0]["recipient_kind"] == "reporter"
    assert address not in answer.text
    assert "pd1." not in answer.text
    # one case's messages (the staff console's case page)
    of_case = await client.get(
        "/v1/deliveries",
        params={"municipality": "GM0715", "signal_id": str(signal.signal_id)},
        headers=notifications.token(),
    )
    assert of_case.status_code == 200, of_case.text
    assert {d["signal_id"] for d in of_case.json()["deliveries"]} == {str(signal.signal_id)}
    none = await client.get(
        "/v1/deliveries",
        params={"municipality": "GM0715", "signal_id": str(uuid4())},
        headers=notifications.token(),
    )
    assert none.json()["deliveries"] == []

    other = await client.get(
        "/v1/deliveries", params={"municipality": "GM0687"}, headers=notifications.token()
    )
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"
    desk = await client.get(
        "/v1/deliveries",
        params={"municipality": "GM0715"},
        headers=notifications.token(roles=("desk",)),
    )
    assert desk.status_code == 403
    anonymous = await client.get("/v1/deliveries", params={"municipality": "GM0715"})
    assert anonymous.status_code == 401
    coordinator = await client.get(
        "/v1/deliveries",
        params={"municipality": "GM0715", "status": "sent"},
        headers=notifications.token(roles=("coordinator",)),
    )
    assert coordinator.status_code == 200
    retry = await client.post(
        f"/v1/deliveries/{mine[0]['delivery_id']}/retry",
        params={"municipality": "GM0715"},
        headers=notifications.token(roles=("coordinator",)),
    )
    assert retry.status_code == 403  # only operators resend
    # the role alone is not enough: only staff of the signal point read the delivery log
    for kind in ("partner", "service"):
        for path, method in (
            ("/v1/deliveries", "GET"),
            (f"/v1/deliveries/{mine[0]['delivery_id']}/retry", "POST"),
        ):
            foreign = await client.request(
                method,
                path,
                params={"municipality": "GM0715"},
                headers=notifications.token(kind=kind),
            )
            assert foreign.status_code == 403, (kind, path, foreign.text)
            assert foreign.headers["content-type"] == "application/problem+json"

    metrics = await notifications.management.get("/metrics")
    assert (
        'signaalpunt_notifications_deliveries_total{channel="email",provider="127.0.0.1",'
        'status="sent",template="reporter_received"}' in metrics.text
    )
    assert address not in metrics.text


async def test_no_address_or_name_reaches_the_logs(notifications: Running) -> None:
    planted_email = "geheim.adres.7731@example.org"
    planted_phone = "+31687654321"
    with collected_logs() as lines:
        try:
            subject = uuid4()
            signal = received_signal(
                subject_id=subject,
                email=await sealed(notifications, subject, planted_email, "reporter.email"),
                wants_feedback=True,
            )
            notifications.sinks.refuse_mail.add(planted_email)  # the failure path logs too
            await notifications.publish(envelope(signal))
            await settled(notifications, 1, signal_id=signal.signal_id)
            notifications.clock.at_local(12, 0)
            other = uuid4()
            texted = received_signal(
                subject_id=other,
                phone=await sealed(notifications, other, planted_phone, "reporter.phone"),
            )
            await notifications.publish(envelope(texted))
            await settled(notifications, 1, signal_id=texted.signal_id)
        finally:
            notifications.clock.reset()
    output = "\n".join(lines)
    assert "message sent" in output, "the test must see the sender's lines"
    assert "message failed" in output
    for planted in (planted_email, planted_phone, "geheim", "87654321"):
        assert planted not in output, f"{planted!r} in the logs"


async def test_an_erased_person_is_not_written_to(notifications: Running) -> None:
    subject = uuid4()
    signal = received_signal(
        subject_id=subject,
        email=await sealed(notifications, subject, "vergeten@example.org", "reporter.email"),
    )
    assert await notifications.vault.erase(subject, reason="erasure_request")  # crypto-shredding
    await notifications.publish(envelope(signal))
    (row,) = await settled(notifications, 1, signal_id=signal.signal_id)
    assert row["status"] == "failed"
    assert row["last_error"] == "the recipient's data key is erased or unknown"
    with notifications.sinks.received.lock:
        assert all(
            m.recipients != ("vergeten@example.org",) for m in notifications.sinks.received.mails
        )


async def test_two_replicas_send_each_message_once(notifications: Running) -> None:
    """A second sender (another replica: its own pool) works the same log: SKIP LOCKED gives
    every message to exactly one of them."""
    own = notifications.notifications.sender
    pool = await asyncpg.create_pool(
        notifications.database_url,
        server_settings={"search_path": "notifications"},
        min_size=1,
        max_size=4,
    )
    twin = Sender(
        pool=lambda: pool,
        schema="notifications",
        producer="notifications",
        group="notifications",
        channels={kind: Counting(channel) for kind, channel in own.channels.items()},
        templates=own.templates,
        addresses=own.addresses,
        policies=own.policies,
        notifications=own.notifications,
        metrics=own.metrics,
        clock=own.clock,
        workers=4,
        poll_interval=0.05,
    )
    await twin.start()
    try:
        signals = [uuid4() for _ in range(20)]
        for signal_id in signals:
            await notifications.publish(envelope(acute(signal_id, uuid4()), municipality="GM0677"))
        rows: list[dict[str, Any]] = []
        for signal_id in signals:
            rows += await settled(notifications, 2, signal_id=signal_id)
    finally:
        await twin.stop()
        await pool.close()
    ids = [r["delivery_id"] for r in rows]
    await asyncio.sleep(1)
    copies = Counter(m.message_id for m in mails(notifications, ids))
    copies.update(r.json()["reference"] for r in sms(notifications, ids))
    assert len(copies) == 40
    assert set(copies.values()) == {1}
    assert Counting.sent > 0, "the second replica must have taken part"


class Counting:
    """A channel that counts what it sent (to see that the second replica took part)."""

    sent = 0

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.provider = inner.provider

    async def send(self, message: Any) -> None:
        await self.inner.send(message)
        Counting.sent += 1


async def test_every_operation_is_for_staff_only(notifications: Running) -> None:
    document = (await notifications.management.get("/openapi.json")).json()
    checked = await assert_refused(
        notifications.client,
        document,
        lambda kind: notifications.token(kind=kind, roles=("operator", "coordinator")),
        refused_kinds=("partner", "service"),
        params={"municipality": "GM0715"},
    )
    assert (
        checked == len(operations(document)) == 4
    )  # deliveries, retry, the access log and its chain


async def test_a_database_outage_is_a_few_log_lines_and_the_sender_resumes(
    notifications: Running,
) -> None:
    """Found by `make chaos` (issue 14): while PostgreSQL was down the sender logged an error with
    a traceback on every round (about 150 in an 8 s outage; 164 rounds failed in this test). One
    line when it starts failing, one when it runs again; then the acute alert still goes out."""
    with collected_logs(logging.WARNING) as lines:
        async with postgres_down():
            await asyncio.sleep(3)  # the sender polls every 0.1 s here: some 30 rounds fail
        signal_id = uuid4()
        await notifications.publish(envelope(acute(signal_id, uuid4())))
        rows = await settled(notifications, 2, signal_id=signal_id)
    assert {r["status"] for r in rows} == {"sent"}
    sender = [
        line
        for line in lines
        if "notifications sender" in line or "signaalpunt_notifications.sender" in line
    ]
    # failing (with the stack only when the first error is not a plain dependency error: the
    # connection dropped mid-query may surface as asyncpg's InternalClientError); running again
    assert len(sender) == 2, "\n".join(sender)
    assert "running again" in sender[-1]


async def test_the_sms_sent_for_an_acute_alert_is_in_the_alerts_trace(
    notifications: Running,
) -> None:
    """An acute alert and the SMS sent for it are one trace: the outcome events continue the
    trace the alert came with (its traceparent), through the sender's own span."""
    spans = InMemorySpanExporter()
    provider = notifications.notifications.service.telemetry.tracer_provider
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace_id, parent = uuid4().hex, uuid4().hex[:16]
    signal_id = uuid4()
    alert = envelope(acute(signal_id, uuid4()))
    producer = make_producer(notifications.infra.kafka_bootstrap, client_id="trace-test")
    await producer.start()
    try:
        await producer.send_and_wait(
            notifications.topics.acute.name,
            alert.model_dump_json().encode(),
            key=str(signal_id).encode(),
            headers=[("traceparent", f"00-{trace_id}-{parent}-01".encode())],
        )
    finally:
        await producer.stop()
    rows = await settled(notifications, 2, signal_id=signal_id)
    assert {(r["channel"], r["status"]) for r in rows} == {("email", "sent"), ("sms", "sent")}

    outcomes: dict[tuple[str, str], str] = {}

    async def published() -> bool:
        for _, value, headers in await read_all(
            notifications.infra.kafka_bootstrap, notifications.topics.notifications.name
        ):
            event = Envelope[NotificationV1].model_validate_json(value)
            if event.data.signal_id == signal_id:
                key = (event.data.channel.value, event.data.status.value)
                outcomes[key] = headers["traceparent"].decode()
        return ("sms", "sent") in outcomes and ("email", "sent") in outcomes

    await eventually(published, what="the outcome events on the notifications topic")
    for outcome, traceparent in outcomes.items():
        assert traceparent.split("-")[1] == trace_id, outcome
    sends = [
        s
        for s in spans.get_finished_spans()
        if s.name.startswith("send ") and s.context and s.context.trace_id == int(trace_id, 16)
    ]
    channels = {(s.attributes or {}).get("signaalpunt.notification.channel") for s in sends}
    assert channels == {"sms", "email"}
