"""The deadline watcher: one signals.deadline-missed.v1 per missed deadline, with a frozen clock
and with two replicas watching the same database at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from signaalpunt_contracts import DeadlineMissedV1, SignalTriagedV1
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.serving import SettableClock
from signaalpunt_triage.main import build
from signaalpunt_triage.watcher import DeadlineWatcher, report_missed_deadlines
from triage_harness import RunningTriage


async def test_missed_only_after_the_deadline_and_only_without_contact(
    triage: RunningTriage,
) -> None:
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    waiting = await triage.send("Woont alleen", received_at=monday)  # normal: 2 working days
    contacted = await triage.send("Is eenzaam", received_at=monday)
    [decision] = await triage.about(triage.topics.triaged, SignalTriagedV1, waiting.data.signal_id)
    await triage.case(contacted.data.signal_id)
    due = decision.first_contact_due
    answer = await triage.client.post(
        f"/v1/triage/signals/{contacted.data.signal_id}/steps",
        headers=triage.token(roles=("desk",)),
        json={"step": "reporter_contacted"},
    )
    assert answer.status_code == 200

    triage.clock.frozen = due - timedelta(minutes=1)
    await report_missed_deadlines(triage.triage)
    triage.clock.frozen = due + timedelta(minutes=1)
    await report_missed_deadlines(triage.triage)
    await report_missed_deadlines(triage.triage)  # a second pass reports nothing new
    overdue = await triage.client.get("/v1/triage/queue?overdue=true", headers=triage.token())
    triage.clock.frozen = None
    overdue_ids = {i["signal_id"] for i in overdue.json()["items"]}
    assert str(waiting.data.signal_id) in overdue_ids
    assert str(contacted.data.signal_id) not in overdue_ids

    missed = await triage.about(
        triage.topics.missed, DeadlineMissedV1, waiting.data.signal_id, settle=2.0
    )
    assert len(missed) == 1
    assert missed[0].first_contact_due == due
    assert missed[0].detected_at == due + timedelta(minutes=1)
    assert missed[0].state.value == "triaged"
    assert not await triage.about(
        triage.topics.missed, DeadlineMissedV1, contacted.data.signal_id, count=0, settle=0.5
    )


async def test_two_replicas_report_each_missed_deadline_once(triage: RunningTriage) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=21)
    sent = [
        await triage.send("Woont alleen", municipality="GM0687", received_at=long_ago)
        for _ in range(40)
    ]
    ids = {s.data.signal_id for s in sent}
    await triage.events(
        triage.topics.triaged,
        SignalTriagedV1,
        lambda es: ids <= {e.data.signal_id for e in es},
    )

    settings = triage.triage.service.settings.model_copy(
        update={"deadline_check_interval": 0.05, "deadline_batch": 3}
    )
    # both replicas start with a clock before anything is due, then time moves on for both at
    # once: they race for the same 40 deadlines
    shared = SettableClock(frozen=long_ago - timedelta(days=1))
    replicas = [build(settings, topics=triage.topics, clock=shared)[1] for _ in range(2)]  # type: ignore[arg-type]
    async with serving(replicas[0]), serving(replicas[1]):
        await asyncio.sleep(0.5)
        shared.frozen = None

        def mine(events: list) -> list:  # type: ignore[type-arg]
            return [e for e in events if e.data.signal_id in ids]

        events = await triage.events(
            triage.topics.missed,
            DeadlineMissedV1,
            lambda es: {e.data.signal_id for e in mine(es)} == ids,
            settle=3.0,
        )
    per_signal = Counter(e.data.signal_id for e in mine(events))
    assert set(per_signal) == ids
    assert set(per_signal.values()) == {1}, "a deadline was reported twice"


def _sample(metrics_text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


async def test_each_pass_of_the_watcher_shows_on_the_metrics_for_the_alert(
    triage: RunningTriage,
) -> None:
    """A watcher that stopped would miss every deadline silently: each pass it completes is
    stamped on /metrics, which SignaalpuntDeadlineWatcherStopped compares with the time."""
    last_pass = "signaalpunt_triage_deadline_watcher_last_pass_timestamp_seconds"
    scraped = (await triage.management.get("/metrics")).text
    assert _sample(scraped, last_pass) == 0  # not watching (the harness runs no watcher)
    started = time.time()
    watcher = DeadlineWatcher(triage.triage, interval=0.2, batch=50)
    await watcher.start()
    try:
        for _ in range(100):
            scraped = (await triage.management.get("/metrics")).text
            if (_sample(scraped, last_pass) or 0) >= started:
                break
            await asyncio.sleep(0.1)
    finally:
        await watcher.stop()
    assert (_sample(scraped, last_pass) or 0) >= started
    assert _sample(scraped, "signaalpunt_triage_deadline_watcher_failed_passes_total") == 0
