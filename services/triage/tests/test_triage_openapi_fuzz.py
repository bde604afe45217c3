"""triage's OpenAPI document is its contract: schemathesis with every check, every phase.

With a coordinator's token (the authenticated paths are reached: random signal ids mostly
answer 404; the queue and the validation paths are exercised for real, and the stateful phase
follows the links from the queue to a case, its lock and its decision) and without one (every
operation a documented 401).
"""

from __future__ import annotations

from signaalpunt_testkit.contract import (
    Allowance,
    anonymous_operations,
    contract_of,
    documented_operations,
)
from triage_harness import RunningTriage

# a change of route, risk groups or priority needs a reason and a confirmation none; whether a
# decision changes anything depends on the case's current one (state, not shape). Only the
# stateful phase reaches real cases (the others' random signal ids are a 404 first).
CHANGE_NEEDS_A_REASON = Allowance(
    "POST",
    "/v1/triage/signals/{signal_id}/decisions",
    "positive_data_acceptance",
    ("422",),
    "a change without a reason, judged against the case's current decision",
    phase="stateful",
)


async def test_the_contract_holds_with_a_token(triage: RunningTriage) -> None:
    sent = await triage.send("Woont alleen")  # at least one real case in the queue
    await triage.case(sent.data.signal_id)
    token = triage.token(roles=("coordinator", "desk"))
    run = await contract_of(
        triage.client,
        triage.management,
        headers=token,
        max_examples=15,
        allowances=[CHANGE_NEEDS_A_REASON],
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(triage.management)
    assert set(run.phases) >= {"examples", "coverage", "fuzzing", "stateful"}, run.skipped


async def test_the_contract_holds_without_a_token(triage: RunningTriage) -> None:
    run = await contract_of(
        triage.client,
        triage.management,
        max_examples=5,
        coverage_only=await anonymous_operations(triage.management),
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(triage.management)
