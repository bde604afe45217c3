"""Notifications for volunteer matching, on the real Kafka, PostgreSQL and SMTP server (aiosmtpd):
the volunteer gets the proposal with the signed one-time link (nothing of the person beyond the
needs), the coupled social worker hears of an acceptance and the four-week follow-up, and the
coordinator on duty of a VOG about to expire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from notifications_harness import Running, envelope, eventually
from signaalpunt_contracts import MatchUpdatedV1, VolunteerVogExpiringV1
from signaalpunt_notifications.sinks import ReceivedMail

DOMAIN = "notifications.signaalpunt.example"
LINK = "https://matching.signaalpunt.example/v1/matching/answers/eyJhbGciOiJIUzI1NiJ9.x.y"


def mails(running: Running, delivery_ids: Sequence[UUID]) -> list[ReceivedMail]:
    wanted = {f"<{d}@{DOMAIN}>" for d in delivery_ids}
    with running.sinks.received.lock:
        return [m for m in running.sinks.received.mails if m.message_id in wanted]


async def settled(running: Running, want: int, **where: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal rows
        rows = await running.deliveries(**where)
        return len(rows) == want and all(r["status"] != "pending" for r in rows)

    await eventually(done, what=f"{want} settled deliveries for {where}")
    return rows


def match(status: str, **values: Any) -> MatchUpdatedV1:
    base: dict[str, Any] = {
        "match_request_id": str(uuid4()),
        "match_id": str(uuid4()),
        "signal_id": str(uuid4()),
        "subject_id": str(uuid4()),
        "volunteer_id": str(uuid4()),
        "status": status,
        "version": 1,
        "attempt": 1,
        "needs": ["buddy", "practical_help"],
        "changed_by": "matching",
        "changed_at": datetime.now(UTC).isoformat(),
    }
    return MatchUpdatedV1.model_validate({**base, **values})


async def test_the_volunteer_gets_the_proposal_with_the_one_time_link_once(
    notifications: Running,
) -> None:
    volunteer_id = uuid4()
    contact = await notifications.vault.seal(
        volunteer_id, "GM0715", "anna@vrijwilligers.example", field="volunteer.email"
    )
    proposed = match(
        "proposed",
        volunteer_id=str(volunteer_id),
        answer_url=LINK,
        volunteer_contact=contact,
        respond_by=(datetime.now(UTC) + timedelta(days=3)).isoformat(),
        social_worker="staff:welzijn-terneuzen-3",
    )
    event = await notifications.publish(envelope(proposed), times=2)  # and a redelivery
    (row,) = await settled(notifications, 1, signal_id=proposed.signal_id)
    assert row["status"] == "sent", row["last_error"]
    assert row["recipient"] == f"volunteer:{volunteer_id}"
    assert await notifications.handled(event.event_id)
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert mail.recipients == ("anna@vrijwilligers.example",)
    assert mail.subject == "Wil je iemand helpen? / Would you help someone?"
    text = mail.text()
    assert LINK in text
    assert "een maatje, praktische hulp (boodschappen, vervoer)" in text
    assert "English" in text  # a Dutch mail with an English version under it
    # nothing of the case: no signal, subject, match or request id, nor the social worker
    for private in (
        proposed.signal_id,
        proposed.subject_id,
        proposed.match_id,
        proposed.match_request_id,
    ):
        assert str(private) not in text
    assert "staff:" not in text
    # the address is only in the mail, never in the stored delivery
    assert "anna@" not in str(row)


async def test_a_volunteer_who_speaks_no_dutch_gets_the_proposal_in_english(
    notifications: Running,
) -> None:
    volunteer_id = uuid4()
    contact = await notifications.vault.seal(
        volunteer_id, "GM0715", "sam@vrijwilligers.example", field="volunteer.email"
    )
    proposed = match(
        "proposed",
        volunteer_id=str(volunteer_id),
        answer_url=LINK,
        volunteer_contact=contact,
        volunteer_languages=["ar", "en"],
    )
    await notifications.publish(envelope(proposed))
    (row,) = await settled(notifications, 1, signal_id=proposed.signal_id)
    assert row["status"] == "sent", row["last_error"]
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert mail.subject == "Would you help someone? / Wil je iemand helpen?"
    assert "Dear volunteer" in mail.text()
    assert LINK in mail.text()


async def test_an_accepted_match_and_its_follow_up_reach_the_coupled_social_worker(
    notifications: Running,
) -> None:
    own = match("accepted", social_worker="staff:welzijn-terneuzen-1", version=2)
    await notifications.publish(envelope(own))
    (row,) = await settled(notifications, 1, signal_id=own.signal_id)
    (mail,) = mails(notifications, [row["delivery_id"]])
    # a social worker listed with a contact of their own
    assert mail.recipients == ("sociaal-werker-1@terneuzen.signaalpunt.example",)
    assert mail.subject == "Koppeling aangenomen in Terneuzen"
    assert "Gevraagd: een maatje, praktische hulp (boodschappen, vervoer)" in mail.text()
    assert f"/matches/{own.match_id}" in mail.text()

    unlisted = match("accepted", social_worker="staff:welzijn-terneuzen-3", version=2)
    await notifications.publish(envelope(unlisted))
    (row,) = await settled(notifications, 1, signal_id=unlisted.signal_id)
    (mail,) = mails(notifications, [row["delivery_id"]])
    # not listed: the social workers' team mailbox
    assert mail.recipients == ("welzijn@terneuzen.signaalpunt.example",)
    assert "staff:welzijn-terneuzen-3" in mail.text()

    follow_up = match(
        "active",
        signal_id=str(own.signal_id),
        match_id=str(own.match_id),
        social_worker="staff:welzijn-terneuzen-1",
        version=4,
        follow_up_due=True,
    )
    await notifications.publish(envelope(follow_up))
    rows = await settled(notifications, 2, signal_id=own.signal_id)
    later = next(r for r in rows if r["template"] == "social_worker_match_follow_up")
    (mail,) = mails(notifications, [later["delivery_id"]])
    assert mail.subject == "Na vier weken: is het een echte koppeling?"


async def test_a_decline_or_an_unmatched_request_mails_nobody(notifications: Running) -> None:
    declined = match("declined", version=2, social_worker="staff:welzijn-terneuzen-1")
    unmatched = match("unmatched", match_id=None, volunteer_id=None, failed_constraint="distance")
    first = await notifications.publish(envelope(declined))
    second = await notifications.publish(envelope(unmatched))
    await eventually(
        lambda: _both_handled(notifications, first.event_id, second.event_id),
        what="both events handled",
    )
    assert await notifications.deliveries(signal_id=declined.signal_id) == []
    assert await notifications.deliveries(signal_id=unmatched.signal_id) == []


async def _both_handled(running: Running, a: UUID, b: UUID) -> bool:
    return await running.handled(a) and await running.handled(b)


async def test_an_expiring_vog_reaches_the_coordinator_on_duty(notifications: Running) -> None:
    volunteer_id = uuid4()
    warning = VolunteerVogExpiringV1(
        volunteer_id=volunteer_id,
        vog_expires_on=date(2027, 1, 15),
        social_worker="staff:welzijn-terneuzen-1",
        detected_at=datetime.now(UTC),
    )
    event = await notifications.publish(envelope(warning, municipality="GM0687"), times=2)
    (row,) = await settled(notifications, 1, reason_event_id=event.event_id)
    assert row["recipient"] == "coordinator:GM0687"
    (mail,) = mails(notifications, [row["delivery_id"]])
    assert mail.recipients == ("regisseur@middelburg.signaalpunt.example",)
    short = str(volunteer_id)[-8:].upper()
    assert mail.subject == f"VOG verloopt op 15 januari 2027: vrijwilliger {short}"
    assert f"/volunteers/{volunteer_id}" in mail.text()
