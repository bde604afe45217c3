"""referral's OpenAPI document is its contract: schemathesis with every check in every phase,
with a team member's and coordinator's token, with an organisation's token (the inbox) and
without one (everything a documented 401; an organisation's signed callback a 401 for a
signature that does not verify)."""

from __future__ import annotations

from referral_harness import RunningReferral
from signaalpunt_testkit.contract import anonymous_operations, contract_of, documented_operations

# an organisation's token reaches its inbox only: on every other operation each case of the
# coverage phase meets the same 403 before its parameters and body are read (the staff run covers
# those operations, and test_referral_access sends an organisation's token to each of them)
INBOX = {"GET /v1/referral/inbox", "POST /v1/referral/inbox/{referral_id}"}


async def test_the_contract_holds_for_staff(referral: RunningReferral) -> None:
    token = referral.staff("team", "coordinator")
    run = await contract_of(referral.client, referral.management, headers=token, max_examples=15)
    assert run.clean, run.report()
    assert run.operations == await documented_operations(referral.management)
    # the stateful phase ran: sequences along the links schemathesis infers from the document
    assert run.stateful_steps > 0, run.summary()


async def test_the_contract_holds_for_an_organisation(referral: RunningReferral) -> None:
    token = referral.organisation("9b2f8a52-64c4-4a4c-a1b1-6a7d5e4e1f00")
    run = await contract_of(
        referral.client,
        referral.management,
        headers=token,
        max_examples=8,
        coverage_only=INBOX,
    )
    assert run.clean, run.report()


async def test_the_contract_holds_without_a_token(referral: RunningReferral) -> None:
    run = await contract_of(
        referral.client,
        referral.management,
        max_examples=5,
        coverage_only=await anonymous_operations(referral.management),
    )
    assert run.clean, run.report()
