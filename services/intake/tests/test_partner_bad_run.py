"""A partner whose system sends nothing but bad events for a while (issue 14, failure classes).

Each bad event is the message's own fault: parked in the dead-letter topic at once with its
reason and refused back to the partner. However many come in a row, that is no systemic failure
(a handful of *different* events failing the same unknown way would be): the stage must never
pause for them, so the good events of this partner and of every other partner keep flowing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from intake_harness import RunningIntake
from signaalpunt_contracts import Envelope, PartnerSignalRejectedV1
from signaalpunt_runtime.dead_letters import list_dead_letters
from test_partner_channel import GP, _read, report, send, signals_from

HOUSING = "urn:signaalpunt:partner:woonstichting-walcheren"
BAD_IN_A_ROW = 25

# every way the GP's system gets an event wrong, each with the reason the partner is told
BAD: list[tuple[str, Callable[[RunningIntake], Any]]] = [
    ("invalid", lambda i: send(i, report(reporter={"kind": "alien"}))),
    (
        "outside_consortium",
        lambda i: send(i, report(subject={"birth_year": 1950, "postcode": "1012 AB"})),
    ),
    (
        "not_authorised",  # a Middelburg postcode: not the GP's municipality
        lambda i: send(i, report(subject={"birth_year": 1950, "postcode": "4331 AA"})),
    ),
    ("not_encrypted", lambda i: send(i, report(), encrypted=False)),
    ("not_signed", lambda i: send(i, report(), signed=False)),
    ("malformed_json", lambda i: send(i, b"{not json")),
]

# the dead letter names the reason; for an invalid report it names the field and the error type
DEAD_LETTER_REASON = {"invalid": "reporter.kind: enum"}


async def _rejections(intake: RunningIntake, wanted: set[str]) -> dict[str, str]:
    def found(values: list[bytes]) -> dict[str, str]:
        events = [Envelope[PartnerSignalRejectedV1].model_validate_json(v).data for v in values]
        return {e.partner_event_id: e.reason for e in events if e.partner_event_id in wanted}

    values = await _read(intake, intake.rejections.name, lambda v: len(found(v)) == len(wanted))
    return found(values)


def _pauses(intake: RunningIntake) -> float:
    """Every pause of intake's partner stage so far, whatever the reason."""
    total = 0.0
    for metric in intake.service.metrics.collect():
        for sample in metric.samples:
            if (
                sample.name == "signaalpunt_consumer_pauses_total"
                and sample.labels.get("topic") == intake.partner_signals.name
            ):
                total += sample.value
    return total


async def test_a_run_of_bad_events_is_parked_with_reasons_and_good_ones_keep_flowing(
    intake: RunningIntake,
) -> None:
    pauses_before = _pauses(intake)
    bad: dict[str, str] = {}
    good_gp: list[str] = []
    good_housing: list[str] = []
    for i in range(BAD_IN_A_ROW):
        reason, sending = BAD[i % len(BAD)]
        bad[await sending(intake)] = reason
        if i % 5 == 4:  # meanwhile another partner's system sends good events
            good_housing.append(
                await send(
                    intake,
                    report(subject={"birth_year": 1948, "postcode": "4331 AA"}),
                    source=HOUSING,
                )
            )
    good_gp.append(await send(intake, report()))  # and the GP's next good event goes through

    for event_id in good_gp:
        assert await signals_from(intake, f"{GP}#{event_id}")
    for event_id in good_housing:
        assert await signals_from(intake, f"{HOUSING}#{event_id}")

    # the partner is told about each bad event, with the reason it can act on
    assert await _rejections(intake, set(bad)) == bad

    # each is parked in the dead-letter topic with its reason, none more than once
    parked = await list_dead_letters(
        intake.infra.kafka_bootstrap, intake.partner_signals.dead_letter_topic("intake")
    )
    parked_ours = [letter for letter in parked if letter.headers.get("ce_id") in bad]
    assert sorted(letter.headers["ce_id"] for letter in parked_ours) == sorted(bad)
    wrong = {
        letter.headers["ce_id"]: letter.error
        for letter in parked_ours
        if DEAD_LETTER_REASON.get(bad[letter.headers["ce_id"]], bad[letter.headers["ce_id"]])
        not in letter.error
    }
    assert not wrong, wrong
    assert all(letter.headers["dlq-attempts"] == "1" for letter in parked_ours), "not retried"
    assert not any(json.dumps(letter.headers).count("Partnertest") for letter in parked_ours)

    # a run of the partner's own faults is no reason to hold the stage
    assert _pauses(intake) == pauses_before
    ready = (await intake.management.get("/readyz")).json()
    assert "kafka" in ready["checks"]  # the readiness answer, with what it checked
    assert not ready["checks"].get("paused_consumers")
