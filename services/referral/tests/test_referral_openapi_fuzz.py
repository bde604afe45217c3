"""referral's OpenAPI document is its contract: schemathesis with every check in every phase,
with a team member's and coordinator's token, with an organisation's token (the inbox) and
without one (everything a documented 401; an organisation's signed callback a 401 for a
signature that does not verify)."""

from __future__ import annotations

from referral_harness import RunningReferral
from signaalpunt_testkit.contract import contract_of, documented_operations


async def test_the_contract_holds_for_staff(referral: RunningReferral) -> None:
    token = referral.staff("team", "coordinator")
    run = await contract_of(referral.client, referral.management, headers=token, max_examples=15)
    assert run.clean, run.report()
    assert run.operations == await documented_operations(referral.management)


async def test_the_contract_holds_for_an_organisation(referral: RunningReferral) -> None:
    token = referral.organisation("9b2f8a52-64c4-4a4c-a1b1-6a7d5e4e1f00")
    run = await contract_of(referral.client, referral.management, headers=token, max_examples=8)
    assert run.clean, run.report()


async def test_the_contract_holds_without_a_token(referral: RunningReferral) -> None:
    run = await contract_of(referral.client, referral.management, max_examples=5)
    assert run.clean, run.report()
