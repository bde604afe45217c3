"""`make chaos` at a reduced size, inside `make test`: the whole system, every channel, while a
PostgreSQL outage longer than the retry budget, a broker kill -9 and service kills happen.

The signals are offered over the whole fault window, so they come in during the outage and the
broker kill (the HTTP clients retry with the same Idempotency-Key), not only before them.
Nothing lost, nothing stored or triaged twice, no message sent twice, no dead letter for
well-formed input, every acute alert sent, every help question referred once and asked of
matching once, and no stage left paused (`bench/chaos.py`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from signaalpunt_testkit.plugin import Infra

pytestmark = pytest.mark.slow

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def _chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("signaalpunt_chaos", CHAOS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(1800)  # five services, Kafka and PostgreSQL restarting on a loaded machine
def test_nothing_is_lost_or_doubled_while_everything_fails(infra: Infra, tmp_path: Path) -> None:
    chaos = _chaos()
    os.environ.setdefault("SIGNAALPUNT_CHAOS_PORT_BASE", "18150")  # set it per developer
    plan = chaos.Plan(
        signals=200,
        outages=(8.0,),  # longer than the retry budget of an event (about 3 s)
        broker_kills=1,
        service_kills=3,
        kill_every=5.0,
        rate=20.0,
        help_share=0.1,
        quiet_timeout=300.0,
        name="chaos-small",
    )
    result = asyncio.run(chaos.run(plan))
    report = chaos.write_report(result, tmp_path)
    text = report.read_text()
    counts = result.counts
    # signals came in while things failed: during each outage and the broker kill, and intake's
    # clients had to try again with the same key
    faults = result.timeline.faults
    assert [what for _, _, what in faults if not what.startswith("kill -9")] == [
        "PostgreSQL stopped 8 s",
        "Kafka kill -9",
    ], text
    for start, end, what in faults:
        if not what.startswith("kill -9"):
            assert result.timeline.offered_during(start, end) > 0, f"none offered during {what}"
    assert result.http_retries > 0, text
    assert counts.stored == counts.accepted == plan.signals, text
    assert counts.stored_twice == 0, text
    assert counts.triaged == counts.stored, text
    assert counts.triaged_twice == 0, text
    assert result.never_received == 0, text  # every message sent arrived
    assert result.not_in_log == 0, text  # and each under one delivery id, once in the log
    assert result.dead_letters == {}, text
    assert counts.acute_alerts_sent == counts.acute_accepted, text
    referral = counts.referral
    assert referral.asked > 0, text
    assert referral.recorded_twice == referral.ranked_twice == 0, text
    assert referral.referred_twice == referral.match_requested_twice == 0, text
    assert referral.ranked == referral.referred == referral.match_requested == referral.asked, text
    assert result.paused_at_end == {}, text
    assert result.recovered_seconds is not None, text
    assert result.acute_after_last_fault_seconds is not None, text
