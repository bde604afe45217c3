"""matching's OpenAPI document is its contract: schemathesis with every check in every phase,
with a volunteer coordinator's token and without one (everything a documented 401; a
volunteer's answer link is anonymous: a 404 for a link that is not one)."""

from __future__ import annotations

from matching_harness import RunningMatching, volunteer
from signaalpunt_testkit.contract import (
    Allowance,
    anonymous_operations,
    contract_of,
    documented_operations,
)

# the one rule of a volunteer that JSON Schema cannot state: a VOG (certificate of conduct) that
# expires before it was issued is refused (two dates compared); every other rule is in the
# document (postcode areas per municipality, a training date only with its skill)
VOG_DATES = [
    Allowance(
        method,
        path,
        "positive_data_acceptance",
        ("422",),
        "vog_expires_on before vog_issued_on: JSON Schema cannot compare two dates",
    )
    for method, path in (
        ("POST", "/v1/matching/volunteers"),
        ("POST", "/v1/matching/volunteers/import"),
    )
]


async def test_the_contract_holds_with_a_token(matching: RunningMatching) -> None:
    token = matching.staff()
    run = await contract_of(
        matching.client, matching.management, headers=token, max_examples=15, allowances=VOG_DATES
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(matching.management)
    # the stateful phase ran: sequences along the links schemathesis infers from the document
    assert run.stateful_steps > 0, run.summary()


async def test_the_contract_holds_without_a_token(matching: RunningMatching) -> None:
    run = await contract_of(
        matching.client,
        matching.management,
        max_examples=5,
        allowances=VOG_DATES,
        coverage_only=await anonymous_operations(matching.management),
    )
    assert run.clean, run.report()


async def test_a_volunteer_of_another_municipality_is_a_403_not_a_fault_in_the_data(
    matching: RunningMatching,
) -> None:
    # schemathesis found it: a schema-valid volunteer in Hulst, registered with a token for
    # Terneuzen only, was a 422 (as if the data were wrong); it is a matter of authorisation
    answer = await matching.client.post(
        "/v1/matching/volunteers",
        json=volunteer(municipality="GM0677", postcode="4561 AA"),
        headers=matching.staff(),
    )
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_one_external_id_twice_in_a_batch_refuses_the_second_row_only(
    matching: RunningMatching,
) -> None:
    # schemathesis found it: the second row with the same id failed the whole import (500)
    twice = [volunteer(first_name="Een", external_id="DUP-1"), volunteer(external_id="DUP-1")]
    answer = await matching.client.post(
        "/v1/matching/volunteers/import", json=twice, headers=matching.staff()
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["created"]) == 1
    assert [r["index"] for r in body["rejected"]] == [1]
