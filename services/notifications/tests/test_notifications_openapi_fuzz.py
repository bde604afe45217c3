"""notifications' OpenAPI document is its contract: schemathesis with every check in every
phase, with an operator's and coordinator's token and without a token (a documented 401)."""

from __future__ import annotations

from notifications_harness import Running
from signaalpunt_testkit.contract import anonymous_operations, contract_of, documented_operations


async def test_the_contract_holds_with_a_token(notifications: Running) -> None:
    token = notifications.token(roles=("operator", "coordinator"))
    run = await contract_of(
        notifications.client, notifications.management, headers=token, max_examples=15
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(notifications.management)
    # the stateful phase ran: sequences along the links schemathesis infers from the document
    assert run.stateful_steps > 0, run.summary()


async def test_the_contract_holds_without_a_token(notifications: Running) -> None:
    run = await contract_of(
        notifications.client,
        notifications.management,
        max_examples=5,
        coverage_only=await anonymous_operations(notifications.management),
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(notifications.management)
