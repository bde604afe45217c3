"""schemathesis against intake's own OpenAPI document: whatever it sends, no 5xx.

The CLI runs as a separate process against the running service (with a desk token, so the
authenticated paths are reached too); its exit status and summary are the verdict.
"""

from __future__ import annotations

from pathlib import Path

from intake_harness import RunningIntake
from signaalpunt_testkit.processes import schemathesis


async def test_no_server_errors_whatever_is_sent(intake: RunningIntake, tmp_path: Path) -> None:
    base = str(intake.client.base_url).rstrip("/")
    token = intake.token()["Authorization"]
    code, text = await schemathesis(
        f"{str(intake.management.base_url).rstrip('/')}/openapi.json",
        url=base,
        authorization=token,
        max_examples=40,
        seconds=300,
        # not yet every check: the cross-field rules of a submission (a concern needs its text
        # or a cue) and of an erasure search (a name or signal ids) are not in the schema, so
        # schemathesis's schema-valid examples are refused (positive_data_acceptance), and an
        # undeclared GET /v1/erasures/search answers 422, not 405 (issue 15, item 5)
        checks="not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance",
    )
    (tmp_path / "schemathesis.txt").write_text(text)
    assert code == 0, text[-3000:]
    document = (await intake.management.get("/openapi.json")).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations >= 3
    assert f"{operations} selected / {operations} total" in text, "every operation exercised"
    assert "Fuzzing" in text


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
