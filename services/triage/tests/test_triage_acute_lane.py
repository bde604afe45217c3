"""The acute lane (issue 22), on the real Kafka and PostgreSQL: an acute text that arrives behind
a backlog of ordinary signals is decided, and its coordinator alerted, while triage in turn is
still working through that backlog; every signal still gets exactly one decision.

Triage in turn is held at the backlog by the test: it keeps the inbox rows of the backlog's events
locked in a transaction of its own (triage's inbox insert waits on them, as it would wait on a
slow database), so what the test shows does not depend on how fast either lane runs. Before the
acute lane, the acute signal waited for all of them (this test timed out)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    Channel,
    Concern,
    Envelope,
    PossibleAcuteAlertV1,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    SignalTriagedV1,
    Subject,
)
from signaalpunt_runtime.broker_factory import make_producer
from triage_harness import RunningTriage

ORDINARY = (
    "Mevrouw woont alleen en krijgt nooit bezoek.",
    "Meneer is sinds de verhuizing erg eenzaam en komt de deur niet meer uit.",
    "Buurman zit de hele dag alleen thuis, zijn kinderen wonen ver weg.",
    "Mijn moeder mist haar vriendinnen sinds ze slecht ter been is.",
)
BACKLOG = 400


async def signal(triage: RunningTriage, text: str) -> Envelope[SignalReceivedV1]:
    subject_id = uuid4()
    sealed = await triage.vault.seal(subject_id, "GM0715", text, field="concern.text")
    return Envelope.new(
        SignalReceivedV1(
            signal_id=uuid4(),
            subject_id=subject_id,
            channel=Channel.WEB_FORM,
            reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
            subject=Subject(),
            concern=Concern(text=sealed, cues=()),
            reported_urgency=ReportedUrgency.NORMAL,
            received_at=datetime.now(UTC),
        ),
        municipality="GM0715",
        producer="intake",
    )


async def publish(triage: RunningTriage, events: list[Envelope[SignalReceivedV1]]) -> None:
    """In this order, as intake would (keyed by signal id)."""
    producer = make_producer(triage.infra.kafka_bootstrap, client_id="triage-acute-lane-test")
    await producer.start()
    try:
        sends = [
            await producer.send(
                triage.topics.received.name,
                value=e.model_dump_json().encode(),
                key=str(e.data.signal_id).encode(),
            )
            for e in events
        ]
        for sent in sends:
            await sent
    finally:
        await producer.stop()


async def test_an_acute_signal_behind_a_backlog_is_alerted_before_the_backlog_is_triaged(
    triage: RunningTriage,
) -> None:
    backlog = [await signal(triage, ORDINARY[i % len(ORDINARY)]) for i in range(BACKLOG)]
    acute = await signal(triage, "Ze zei gisteren dat ze niet meer wil leven.")
    possible = await signal(
        triage, "Hij ziet het allemaal niet meer zitten sinds zijn vrouw overleed."
    )
    held = await asyncpg.connect(triage.database_url, server_settings={"search_path": "triage"})
    hold = held.transaction()
    await hold.start()
    try:
        # triage in turn cannot take any of the backlog while these rows are locked
        await held.execute(
            'INSERT INTO inbox (consumer, event_id, topic, "partition", "offset")'
            " SELECT 'triage', e, 'held by the test', 0, 0 FROM unnest($1::uuid[]) AS e",
            [e.event_id for e in backlog],
        )
        await publish(triage, [*backlog, acute, possible])

        # what the coordinator on duty notices: the alerts, while the backlog is still waiting
        [alert] = await triage.about(triage.topics.alerts, AcuteSignalAlertV1, acute.data.signal_id)
        assert alert.matched == ("text:suicide_risk",)
        [review] = await triage.about(
            triage.topics.possible_alerts, PossibleAcuteAlertV1, possible.data.signal_id
        )
        assert review.review_due > possible.data.received_at
        # and the case is there to open from the alert, decided and explained
        case = await triage.case(acute.data.signal_id)
        assert (case["case"]["route"], case["case"]["state"]) == ("acuut", "triaged")
        decided = await held.fetchval(
            "SELECT count(*) FROM cases WHERE signal_id = ANY($1::uuid[])",
            [e.data.signal_id for e in backlog],
        )
        assert decided == 0
    finally:
        await hold.rollback()  # triage in turn goes on
    try:
        # the backlog is triaged in turn, the acute and possible-acute ones not a second time
        every = {e.data.signal_id for e in (*backlog, acute, possible)}
        decisions = await triage.events(
            triage.topics.triaged,
            SignalTriagedV1,
            lambda es: every <= {e.data.signal_id for e in es},
            settle=3.0,
        )
        ours = [d.data for d in decisions if d.data.signal_id in every]
        assert len(ours) == len(every)  # one decision each
        routes = {d.signal_id: d.route.value for d in ours}
        assert routes[acute.data.signal_id] == "acuut"
        assert routes[possible.data.signal_id] == "mogelijk_acuut"
        assert {routes[e.data.signal_id] for e in backlog} <= {"team_eenzaamheid", "team_welzijn"}
        alerts = await triage.about(
            triage.topics.alerts, AcuteSignalAlertV1, acute.data.signal_id, settle=1.0
        )
        assert len(alerts) == 1
        steps = await triage.about(triage.topics.steps, CaseStepRecordedV1, acute.data.signal_id)
        assert [(s.previous_state.value, s.state.value) for s in steps] == [("received", "triaged")]
        # the order a coordinator sees in the decisions: the acute ones came first
        first_routine = await held.fetchval(
            "SELECT min(decided_at) FROM decisions WHERE signal_id = ANY($1::uuid[])",
            [e.data.signal_id for e in backlog],
        )
        urgent = await held.fetchval(
            "SELECT max(decided_at) FROM decisions WHERE signal_id = ANY($1::uuid[])",
            [acute.data.signal_id, possible.data.signal_id],
        )
        assert urgent < first_routine
    finally:
        await held.close()
