"""The possible-acute tier on the real Kafka and PostgreSQL: its own alert with a review
deadline, no acute alert, and one review-missed event when no coordinator looked in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    SignalTriagedV1,
)
from signaalpunt_triage.watcher import report_missed_reviews
from triage_harness import RunningTriage


async def test_a_death_wish_gets_a_review_deadline_and_its_own_alert(
    triage: RunningTriage,
) -> None:
    sent = await triage.send("Meneer zegt dat het leven geen zin meer heeft.")
    [decision] = await triage.about(triage.topics.triaged, SignalTriagedV1, sent.data.signal_id)
    assert decision.route.value == "mogelijk_acuut"
    assert decision.needs_review
    assert decision.review_due == sent.data.received_at + timedelta(hours=4)
    fired = {f.rule: f for f in decision.explanation}
    assert fired["possible-acute-risk"].matched == ("text:death_wish",)
    assert fired["possible-acute-risk"].matched_words == ("death_wish: leven + geen + zin",)
    [alert] = await triage.about(
        triage.topics.possible_alerts, PossibleAcuteAlertV1, sent.data.signal_id
    )
    assert alert.matched == ("text:death_wish",)
    assert alert.review_due == decision.review_due
    assert not await triage.about(
        triage.topics.alerts, AcuteSignalAlertV1, sent.data.signal_id, count=0, settle=1.0
    )
    case = await triage.case(sent.data.signal_id)
    assert case["case"]["review_due"] is not None
    assert case["case"]["explanation"][0]["matched_words"]


async def test_an_unreviewed_possible_acute_signal_is_reported_once(
    triage: RunningTriage,
) -> None:
    received = datetime.now(UTC) - timedelta(hours=1)
    waiting = await triage.send("Haar broer is door zelfmoord overleden.", received_at=received)
    reviewed = await triage.send("Ze ziet het niet meer zitten.", received_at=received)
    await triage.case(waiting.data.signal_id)
    await triage.case(reviewed.data.signal_id)
    confirmed = await triage.client.post(
        f"/v1/triage/signals/{reviewed.data.signal_id}/decisions",
        headers=triage.token(),
        json={},
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["reviewed_at"] is not None
    due = received + timedelta(hours=4)

    triage.clock.frozen = due - timedelta(minutes=1)
    await report_missed_reviews(triage.triage)
    triage.clock.frozen = due + timedelta(minutes=1)
    await report_missed_reviews(triage.triage)
    await report_missed_reviews(triage.triage)  # a second pass reports nothing new
    triage.clock.frozen = None

    missed = await triage.about(
        triage.topics.review_missed,
        PossibleAcuteReviewMissedV1,
        waiting.data.signal_id,
        settle=2.0,
    )
    assert len(missed) == 1
    assert missed[0].review_due == due
    assert missed[0].detected_at == due + timedelta(minutes=1)
    assert not await triage.about(
        triage.topics.review_missed,
        PossibleAcuteReviewMissedV1,
        reviewed.data.signal_id,
        count=0,
        settle=0.5,
    )
