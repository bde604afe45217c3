"""The committed JSON Schemas, topic list and AsyncAPI document are what the code generates, and
every example payload validates against the committed JSON Schema (an independent validator)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from signaalpunt_contracts import REGISTRY, Envelope
from signaalpunt_runtime.contract_docs import GENERATED, stale


def test_generated_documents_are_current() -> None:
    assert stale() == [], "run `make docs` and commit contracts/generated/"


def test_examples_validate_against_the_committed_json_schemas() -> None:
    topics = {t["name"]: t for t in json.loads((GENERATED / "topics.json").read_text())}
    for topic in REGISTRY:
        schema = json.loads((GENERATED / Path(topics[topic.name]["schema"])).read_text())
        validator = jsonschema.Draft202012Validator(schema)
        for example in topic.value.examples:
            event = Envelope.new(
                topic.value.model_validate(example), municipality="GM0715", producer="contracts"
            )
            validator.validate(json.loads(event.model_dump_json()))


def test_the_committed_schema_refuses_what_the_model_refuses() -> None:
    topic = REGISTRY.get("platform.probe.v1")
    schema = json.loads((GENERATED / "schemas/signaalpunt.platform.probe.v1.json").read_text())
    event = json.loads(
        Envelope.new(
            topic.value.model_validate(topic.value.examples[0]),
            municipality="GM0715",
            producer="x1",
        ).model_dump_json()
    )
    event["municipality"] = "Terneuzen"
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(event))
    assert [list(e.path) for e in errors] == [["municipality"]]
