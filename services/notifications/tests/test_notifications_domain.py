"""The pure parts: rules, quiet hours, rate limit, retries, templates, signatures, configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from notifications_harness import (
    PARTNER_URN,
    acute,
    closed,
    envelope,
    received_signal,
    rejected,
    triaged,
)
from signaalpunt_contracts import (
    Envelope,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    ReferralUpdatedV1,
    Route,
)
from signaalpunt_contracts.notifications import MessageChannel
from signaalpunt_notifications.channels import sign
from signaalpunt_notifications.cli import example_values
from signaalpunt_notifications.config import HERE, load_directory
from signaalpunt_notifications.domain import (
    AMSTERDAM,
    PermanentSendError,
    QuietHours,
    RateLimit,
    RetryPolicy,
    RuleContext,
    SignalFacts,
    TransientSendError,
    Urgency,
    http_failure,
)
from signaalpunt_notifications.rules import advance_facts, default_rules
from signaalpunt_notifications.templates import Templates
from standardwebhooks import Webhook

DIRECTORY = load_directory(
    HERE / "municipalities.yaml",
    HERE / "partners.yaml",
    staff_portal_url="https://x.example",
    signing=False,
)


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=AMSTERDAM)


# -- quiet hours, rate limit, retries -------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "release"),
    [
        (local(2026, 11, 23, 23, 30), local(2026, 11, 24, 8)),
        (local(2026, 11, 23, 21, 0), local(2026, 11, 24, 8)),
        (local(2026, 11, 24, 7, 59), local(2026, 11, 24, 8)),
        (local(2026, 11, 24, 8, 0), None),
        (local(2026, 11, 24, 20, 59), None),
        # the night the clocks go forward: 08:00 summer time, not 07:00 or 09:00
        (local(2026, 3, 28, 23, 0), local(2026, 3, 29, 8)),
    ],
)
def test_quiet_hours_hold_sms_until_eight_in_the_morning(
    now: datetime, release: datetime | None
) -> None:
    assert QuietHours().release_at(now.astimezone(UTC)) == release


def test_quiet_hours_apply_to_opted_in_sms_only_and_never_to_acute_alerts() -> None:
    quiet = QuietHours()
    assert quiet.applies(MessageChannel.SMS, True, Urgency.NORMAL)
    assert not quiet.applies(MessageChannel.SMS, True, Urgency.ACUTE)
    assert not quiet.applies(MessageChannel.EMAIL, True, Urgency.NORMAL)
    assert not quiet.applies(MessageChannel.SMS, False, Urgency.NORMAL)


def test_rate_limit_queues_the_excess_until_the_window_frees_up() -> None:
    limit = RateLimit(2, timedelta(hours=1))
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    # one sent five minutes ago: one more may go now
    assert limit.admit(1, now - timedelta(minutes=5), 1, now) == (1, None)
    # two sent (the older 50 minutes ago): none now, the next when that one is an hour old
    assert limit.admit(2, now - timedelta(minutes=50), 1, now) == (0, now + timedelta(minutes=10))
    # one sent 50 minutes ago, three asked: one goes now, the rest in ten minutes
    assert limit.admit(1, now - timedelta(minutes=50), 3, now) == (1, now + timedelta(minutes=10))
    # nothing sent, three asked: two go now, the third when they are an hour old
    assert limit.admit(0, None, 3, now) == (2, now + timedelta(hours=1))


def test_retries_back_off_exponentially_up_to_a_maximum_then_stop() -> None:
    policy = RetryPolicy(
        max_attempts=4, initial=timedelta(seconds=5), maximum=timedelta(seconds=30)
    )
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    waits = [(policy.next_attempt(n, now) - now).total_seconds() for n in (1, 2, 3, 4, 5)]
    assert 5 <= waits[0] <= 6.25
    assert 10 <= waits[1] <= 12.5
    assert 30 <= waits[4] <= 37.5  # capped
    assert not policy.exhausted(3)
    assert policy.exhausted(4)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (410, PermanentSendError),
        (400, PermanentSendError),
        (429, TransientSendError),
        (408, TransientSendError),
        (503, TransientSendError),
        (500, TransientSendError),
    ],
)
def test_http_answers_are_classified_as_standard_webhooks_advises(status: int, kind: type) -> None:
    assert isinstance(http_failure(status, "webhook endpoint"), kind)


def test_our_signature_verifies_with_the_reference_implementation() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"signal.rejected","data":{"a":1}}'
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"type": "signal.rejected", "data": {"a": 1}}


# -- rules -------------------------------------------------------------------------------------


def plan(event: Envelope[Any], previous: SignalFacts | None = None) -> tuple[list[Any], Any]:
    facts = advance_facts(previous, event, "nl")
    return default_rules().plan(event, RuleContext(DIRECTORY, facts, previous)), facts


def test_acknowledgement_only_with_permission_and_a_way_to_reach_the_reporter() -> None:
    subject = uuid4()
    allowed, _ = plan(envelope(received_signal(subject_id=subject, email="pd1.ZW1haWw=")))
    assert [(m.template, m.channel.value) for m in allowed] == [("reporter_received", "email")]
    by_phone, _ = plan(envelope(received_signal(subject_id=subject, phone="pd1.cGhvbmU=")))
    assert [(m.channel.value, m.quiet_hours) for m in by_phone] == [("sms", True)]
    not_allowed, _ = plan(
        envelope(received_signal(subject_id=subject, email="pd1.ZW1haWw=", may_contact=False))
    )
    assert not_allowed == []
    unreachable, _ = plan(envelope(received_signal(subject_id=subject)))
    assert unreachable == []


def test_route_assignments_on_the_first_decision_and_on_a_change_of_route_only() -> None:
    signal_id, subject = uuid4(), uuid4()
    first, facts = plan(envelope(triaged(signal_id, subject, route="team_welzijn")))
    assert [m.recipient for m in first] == ["mailbox:GM0715:team_welzijn"]
    same, facts2 = plan(
        envelope(triaged(signal_id, subject, decision=2, route="team_welzijn")), facts
    )
    assert same == []
    moved, facts3 = plan(envelope(triaged(signal_id, subject, decision=3, route="acuut")), facts2)
    assert [m.recipient for m in moved] == ["mailbox:GM0715:desk"]
    late, _ = plan(envelope(triaged(signal_id, subject, decision=2, route="team_welzijn")), facts3)
    assert late == []  # an old decision arriving late assigns nothing


def test_feedback_needs_wants_feedback_and_keeps_its_reason_whichever_event_comes_last() -> None:
    signal_id, subject = uuid4(), uuid4()
    decision = envelope(triaged(signal_id, subject))
    _, facts = plan(decision)
    received = envelope(
        received_signal(
            subject_id=subject, signal_id=signal_id, email="pd1.ZW1haWw=", wants_feedback=True
        )
    )
    messages, facts = plan(received, facts)
    progress = next(m for m in messages if m.template == "reporter_in_progress")
    assert progress.dedupe_key(received.event_id).startswith(str(decision.event_id))
    done, _ = plan(envelope(closed(signal_id)), facts)
    assert {m.template for m in done} == {"reporter_in_progress", "reporter_handled"}
    silent = envelope(received_signal(subject_id=subject, email="pd1.ZW1haWw="))
    assert all(m.template == "reporter_received" for m in plan(silent, facts)[0])


def test_acute_alert_by_email_and_sms_as_acute() -> None:
    messages, _ = plan(envelope(acute(uuid4(), uuid4())))
    assert {(m.channel.value, m.urgency.value) for m in messages} == {
        ("email", "acute"),
        ("sms", "acute"),
    }


def test_possible_acute_alert_and_missed_review_reach_the_coordinator_day_and_night() -> None:
    signal_id = uuid4()
    now = datetime.now(UTC)
    alert = PossibleAcuteAlertV1(
        signal_id=signal_id,
        subject_id=uuid4(),
        matched=("text:death_wish",),
        review_due=now + timedelta(hours=4),
        raised_at=now,
    )
    messages, _ = plan(envelope(alert))
    assert [(m.template, m.channel.value, m.urgency.value, m.recipient) for m in messages] == [
        ("coordinator_possible_acute", "email", "acute", "coordinator:GM0715")
    ]
    missed = PossibleAcuteReviewMissedV1(
        signal_id=signal_id, route=Route.MOGELIJK_ACUUT, review_due=now, detected_at=now
    )
    messages, _ = plan(envelope(missed))
    assert {(m.template, m.channel.value, m.urgency.value) for m in messages} == {
        ("coordinator_review_missed", "email", "acute"),
        ("coordinator_review_missed", "sms", "acute"),
    }


@pytest.mark.parametrize("route", ["mogelijk_acuut", "jeugdteam"])
def test_the_new_routes_are_assigned_to_the_desk(route: str) -> None:
    messages, _ = plan(envelope(triaged(uuid4(), uuid4(), route=route)))
    assert [m.recipient for m in messages] == ["mailbox:GM0715:desk"]


def test_refusal_only_to_partners_with_a_webhook() -> None:
    with_hook, _ = plan(envelope(rejected(PARTNER_URN)))
    assert [m.channel.value for m in with_hook] == ["webhook"]
    without, _ = plan(envelope(rejected("urn:signaalpunt:partner:wmo-loket-hulst")))
    assert without == []


def referral_update(status: str, **changes: Any) -> ReferralUpdatedV1:
    example = {**ReferralUpdatedV1.examples[0], "status": status, **changes}
    return ReferralUpdatedV1.model_validate(example)


def test_referrals_reach_the_organisation_and_declines_and_escalations_the_team() -> None:
    signal_id = UUID(str(ReferralUpdatedV1.examples[0]["signal_id"]))
    _, facts = plan(envelope(triaged(signal_id, uuid4(), route="team_eenzaamheid")))
    sent, _ = plan(envelope(referral_update("sent")), facts)
    assert [(m.template, m.recipient_kind.value) for m in sent] == [
        ("organisation_referral", "organisation")
    ]
    assert sent[0].address == {"kind": "organisation", "email": "maatjes@humanitas.example"}
    assert "question" not in sent[0].context  # the person's words never go by mail
    by_api, _ = plan(envelope(referral_update("sent", channel="api", referral_email=None)), facts)
    assert by_api == []  # the organisation reads its inbox with its own token
    declined, _ = plan(
        envelope(referral_update("declined", decline_reason="waiting_list", referral_email=None)),
        facts,
    )
    assert [m.recipient for m in declined] == ["mailbox:GM0715:team_eenzaamheid"]
    escalated, _ = plan(envelope(referral_update("sent", escalated=True)), facts)
    assert [(m.rule, m.recipient) for m in escalated] == [
        ("referral-escalation", "coordinator:GM0715")
    ]
    accepted, _ = plan(envelope(referral_update("accepted", referral_email=None)), facts)
    assert accepted == []


def test_the_coordinator_on_duty_follows_the_roster_and_falls_back_to_the_fixed_contact() -> None:
    terneuzen = DIRECTORY.municipality("GM0715")
    monday, thursday, saturday = (
        local(2026, 11, 23, 10),
        local(2026, 11, 26, 10),
        local(2026, 11, 28, 10),
    )
    assert (
        terneuzen.coordinator_on_duty(monday).email == "regisseur-1@terneuzen.signaalpunt.example"
    )
    assert (
        terneuzen.coordinator_on_duty(thursday).email == "regisseur-2@terneuzen.signaalpunt.example"
    )
    assert terneuzen.coordinator_on_duty(saturday).phone == "+31600000715"


# -- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_template_renders_in_both_languages_for_each_of_its_channels(language: str) -> None:
    templates = Templates()
    values = DIRECTORY.municipality("GM0715").template_values(language)
    rendered = 0
    for name in templates.names():
        for channel in templates.channels(name):
            message = templates.render(
                name, language, channel, example_values(name), values, DIRECTORY.consortium
            )
            assert message.text.strip()
            if channel is MessageChannel.SMS:
                assert len(message.text) <= 320  # two SMS parts at most
            rendered += 1
    assert rendered >= 13


def test_html_is_escaped_and_plain_text_is_not(tmp_path: Path) -> None:
    templates = Templates()
    values = {**example_values("route_assignment"), "link": "https://x.example/?a=1&b=<2>"}
    message = templates.render(
        "route_assignment",
        "nl",
        MessageChannel.EMAIL,
        values,
        {"code": "GM0715", "name": "Terneuzen", "phone": "14 0115", "signature": "<b>x</b>"},
        "Signaalpunt",
    )
    assert message.html is not None
    assert "&lt;b&gt;x&lt;/b&gt;" in message.html
    assert "a=1&amp;b=&lt;2&gt;" in message.html
    assert "<b>x</b>" in message.text
    assert "a=1&b=<2>" in message.text


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "evil.j2").write_text(
        "{% block sms %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endblock %}"
    )
    templates = Templates([tmp_path])
    with pytest.raises((SecurityError, UndefinedError)):
        templates.render("evil", "nl", MessageChannel.SMS, {}, {}, "x")


def test_the_preview_command_renders_every_template_in_english() -> None:
    from signaalpunt_notifications.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["preview", "--language", "en"])
    assert result.exit_code == 0, result.output
    for expected in (
        "has been received",
        "being handled",
        "has been handled",
        "ACUTE",
        "Deadline missed",
        "New: signal",
        "was not accepted",
    ):
        assert expected in result.output
    one = CliRunner().invoke(app, ["preview", "--template", "reporter_received"])
    assert "Uw melding is ontvangen" in one.output
    assert "ACUUT" not in one.output
