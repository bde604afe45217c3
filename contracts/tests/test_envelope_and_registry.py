"""The envelope and the topic registry behave as the contracts promise."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from signaalpunt_contracts import REGISTRY, Envelope, EventPayload, ProbeV1, Topic


def _payload_models() -> list[type[EventPayload]]:
    return sorted({t.value for t in REGISTRY}, key=lambda m: m.__name__)


@pytest.mark.parametrize("model", _payload_models(), ids=lambda m: m.__name__)
def test_every_model_has_examples_that_validate(model: type[EventPayload]) -> None:
    assert model.examples, f"{model.__name__} has no example payloads"
    for example in model.examples:
        parsed = model.model_validate(example)
        envelope = Envelope.new(parsed, municipality="GM0715", producer="contract-test")
        again = Envelope[model].model_validate_json(envelope.model_dump_json())  # type: ignore[valid-type]
        assert again == envelope


def test_new_event_ids_are_uuid7_and_sort_by_time() -> None:
    events = [
        Envelope.new(ProbeV1(run_id="r", sequence=i), municipality="GM0715", producer="tester")
        for i in range(50)
    ]
    assert all(e.event_id.version == 7 for e in events)
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)


def test_a_caused_event_inherits_the_chain() -> None:
    first = Envelope.new(ProbeV1(run_id="r", sequence=1), municipality="GM0715", producer="intake")
    second = Envelope.new(
        ProbeV1(run_id="r", sequence=2), municipality="GM0715", producer="triage", caused_by=first
    )
    assert second.correlation_id == first.correlation_id == first.event_id
    assert second.causation_id == first.event_id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"municipality": "0715"}, "municipality"),
        ({"type": "signaalpunt.other"}, "does not match payload"),
        ({"schema_version": 2}, "schema_version"),
        ({"producer": "Intake Service"}, "producer"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_a_bad_envelope_is_refused_with_a_reason(change: dict[str, Any], reason: str) -> None:
    good = Envelope.new(ProbeV1(run_id="r", sequence=1), municipality="GM0715", producer="tester")
    raw = {**good.model_dump(mode="json"), **change}
    with pytest.raises(ValidationError, match=reason):
        Envelope[ProbeV1].model_validate(raw)


def test_dead_letter_topics_are_named_per_consumer_group() -> None:
    topic = REGISTRY.get("platform.probe.v1")
    assert topic.dead_letter_topic("probe-receiver") == "platform.probe.v1.dlq.probe-receiver"
    names = [s.name for s in REGISTRY.broker_topics()]
    assert "platform.probe.v1.dlq.probe-receiver" in names
    assert len(names) == len(set(names))


def test_registry_refuses_bad_names() -> None:
    with pytest.raises(ValueError, match=r"domain\.thing\.v1"):
        Topic(name="Signals", value=ProbeV1, key="k", description="", producers=(), consumers=())
    with pytest.raises(ValueError, match="kebab-case"):
        Topic(
            name="a.b.v1",
            value=ProbeV1,
            key="k",
            description="",
            producers=(),
            consumers=("Bad_Group",),
        )
