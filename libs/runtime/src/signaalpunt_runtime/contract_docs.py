"""Generate the contract documents from code: JSON Schemas, the topic registry and AsyncAPI.

    uv run python -m signaalpunt_runtime.contract_docs          # make docs: contracts/generated/
    uv run python -m signaalpunt_runtime.contract_docs --check  # exit 1 when the files are stale

The AsyncAPI document is FastStream's own generator run over a broker that declares one publisher
per registry topic with the topic's envelope model as payload. A test fails when the committed files
differ from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI
from signaalpunt_contracts import REGISTRY, Envelope, TopicRegistry

from .broker_factory import make_broker
from .kafka_security import KafkaSecurity

GENERATED = Path(__file__).resolve().parents[4] / "contracts" / "generated"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def documents(registry: TopicRegistry = REGISTRY) -> dict[str, str]:
    """File name (relative to contracts/generated) → content."""
    files: dict[str, str] = {}
    # the production brokers' security (SASL over TLS), whatever the local shell's settings are:
    # the document must not depend on who generates it
    broker = make_broker(
        bootstrap="kafka:9092",
        client_id="signaalpunt-contracts",
        security=KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512"),
    )
    topics: list[dict[str, Any]] = []
    for topic in registry:
        model = topic.value
        envelope = Envelope[model]  # type: ignore[valid-type]
        schema_name = f"{model.event_type}.v{model.schema_version}"
        files[f"schemas/{schema_name}.json"] = _json(envelope.model_json_schema())
        topics.append(
            {
                "name": topic.name,
                "key": topic.key,
                "value": model.__name__,
                "event_type": model.event_type,
                "schema_version": model.schema_version,
                "schema": f"schemas/{schema_name}.json",
                "partitions": topic.partitions,
                "retention_ms": int(topic.retention.total_seconds() * 1000),
                "producers": list(topic.producers),
                "consumers": list(topic.consumers),
                "dead_letter_topics": topic.dead_letter_topics,
                "description": topic.description,
            }
        )
        broker.publisher(
            topic.name,
            schema=envelope,
            title=topic.name,
            description=(
                f"{topic.description} Key: {topic.key}. Producers: {', '.join(topic.producers)}. "
                f"Consumer groups: {', '.join(topic.consumers)} (dead letters: "
                f"{', '.join(topic.dead_letter_topics.values())})."
            ),
        )
    files["topics.json"] = _json(topics)
    spec = AsyncAPI(
        broker,
        title="Signaalpunt events",
        version="1",
        description="Every Kafka topic of Signaalpunt with its event envelope and payload.",
    )
    document = spec.to_specification().to_jsonable()
    for topic in registry:
        if topic.wire_message is not None:
            _wire(document, topic.name, topic.wire_message, topic.value)
    files["asyncapi.json"] = _json(document)
    return files


def _wire(
    document: dict[str, Any], channel: str, message: dict[str, Any], inner: type[Any]
) -> None:
    """Replace the envelope FastStream derived for `channel` with the message as it really is on
    the wire, and add the schema of what it carries inside (`inner`)."""
    document["components"]["messages"][f"{channel}:Message"] = message
    schema = inner.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = document["components"]["schemas"]
    schemas.update(schema.pop("$defs", {}))
    schemas[inner.__name__] = schema


def write(target: Path = GENERATED) -> list[Path]:
    written = []
    for name, content in documents().items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written


def stale(target: Path = GENERATED) -> list[str]:
    expected = documents()
    problems = [
        name
        for name, content in expected.items()
        if not (target / name).exists() or (target / name).read_text() != content
    ]
    existing = (
        {p.relative_to(target).as_posix() for p in target.rglob("*.json")}
        if target.exists()
        else set()
    )
    problems += sorted(f"{name} (no longer generated)" for name in existing - set(expected))
    return problems


if __name__ == "__main__":
    if "--check" in sys.argv:
        found = stale()
        if found:
            print("stale contract documents (run `make docs`):", *found, sep="\n  ")
            sys.exit(1)
    else:
        for path in write():
            print(f"wrote {path}")
