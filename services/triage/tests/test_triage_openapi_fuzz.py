"""triage's OpenAPI document is its contract: schemathesis with every check, every phase.

With a coordinator's token (the authenticated paths are reached: random signal ids mostly
answer 404; the queue and the validation paths are exercised for real, and the stateful phase
follows the links from the queue to a case, its lock and its decision) and without one (every
operation a documented 401).
"""

from __future__ import annotations

from signaalpunt_testkit.contract import contract_of, documented_operations
from triage_harness import RunningTriage


async def test_the_contract_holds_with_a_token(triage: RunningTriage) -> None:
    sent = await triage.send("Woont alleen")  # at least one real case in the queue
    await triage.case(sent.data.signal_id)
    token = triage.token(roles=("coordinator", "desk"))
    run = await contract_of(triage.client, triage.management, headers=token, max_examples=15)
    assert run.clean, run.report()
    assert run.operations == await documented_operations(triage.management)
    assert set(run.phases) >= {"examples", "coverage", "fuzzing", "stateful"}, run.skipped


async def test_the_contract_holds_without_a_token(triage: RunningTriage) -> None:
    run = await contract_of(triage.client, triage.management, max_examples=5)
    assert run.clean, run.report()
    assert run.operations == await documented_operations(triage.management)
