"""intake's OpenAPI document is its contract: schemathesis with every check in every phase
(the stateful one follows the document's links: a signal taken in, then its status read with its
receipt token), with a desk's and coordinator's token (every route reached) and without one (the
web form is anonymous; everything else a documented 401).

Nothing is allowed to fail: the cross-field rules of a report (a concern needs its text or a cue,
contact needs a phone or e-mail address, the municipality and the postcode those of this signal
point and in agreement) and of an erasure search (a name or signal ids) are in the document, and an
undeclared method is a 405 naming the methods the path really serves.
"""

from __future__ import annotations

from intake_harness import RunningIntake
from signaalpunt_testkit.contract import (
    Allowance,
    anonymous_operations,
    contract_of,
    documented_operations,
)

# the one rule of a submission that is state, not shape: an Idempotency-Key sent again with
# another body is a 422 (draft-ietf-httpapi-idempotency-key-header, 2.7). The stateful phase
# sends the keys it generated ("0", "00", ...) again with other reports; the other phases check
# every report rule of the document without this allowance.
KEY_REUSED = Allowance(
    "POST",
    "/v1/signals",
    "positive_data_acceptance",
    ("422",),
    "an Idempotency-Key reused with another body",
    phase="stateful",
)


async def test_the_contract_holds_with_a_token(intake: RunningIntake) -> None:
    token = intake.token(roles=("desk", "coordinator"))
    run = await contract_of(
        intake.client, intake.management, headers=token, max_examples=15, allowances=[KEY_REUSED]
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(intake.management)
    assert run.stateful_steps > 0, run.skipped


async def test_the_contract_holds_without_a_token(intake: RunningIntake) -> None:
    run = await contract_of(
        intake.client,
        intake.management,
        max_examples=5,
        allowances=[KEY_REUSED],
        coverage_only=await anonymous_operations(intake.management),
    )
    assert run.clean, run.report()
    assert run.operations == await documented_operations(intake.management)


async def test_the_document_describes_what_post_signals_takes(intake: RunningIntake) -> None:
    # the endpoint reads its body itself, so its description is declared, not derived: it must
    # name the same model, and every reference in the document must resolve
    document = (await intake.management.get("/openapi.json")).json()
    operation = document["paths"]["/v1/signals"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SignalSubmission"}
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    schemas = document["components"]["schemas"]
    assert set(schemas["SignalSubmission"]["required"]) >= {"channel", "reporter", "subject"}

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    missing = {r for r in refs(document) if r.rsplit("/", 1)[-1] not in schemas}
    assert not missing, missing
