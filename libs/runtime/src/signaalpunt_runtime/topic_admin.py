"""Create and update Kafka topics from the topic registry (idempotent).

Missing topics are created; a topic with fewer partitions than registered gets more (Kafka cannot
take partitions away, so a registry asking for fewer is reported, not applied); topic configuration
(retention and extras) is set to what the registry says. Replication factor and
`min.insync.replicas` come from `TopicSettings`: a replication factor the cluster cannot give is an
error (never quietly 1), and an existing topic with fewer replicas than asked is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from signaalpunt_contracts import TopicSpec

from .broker_factory import make_admin
from .topics_settings import TopicSettings

TOPIC_ALREADY_EXISTS = 36
INVALID_REPLICATION_FACTOR = 38

Change = Literal[
    "created",
    "partitions added",
    "config updated",
    "unchanged",
    "too many partitions",
    "too few replicas",
]
PROBLEMS: frozenset[Change] = frozenset({"too many partitions", "too few replicas"})
"""Changes the command cannot make itself: an operator must act (it exits non-zero)."""


@dataclass(frozen=True)
class TopicChange:
    name: str
    partitions: int
    change: Change
    detail: str = ""


class TopicAdminError(RuntimeError):
    pass


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], *, settings: TopicSettings | None = None
) -> list[TopicChange]:
    """Bring the broker's topics in line with `specs`; returns what was done per topic."""
    settings = settings or TopicSettings()
    replication_factor = settings.replication_factor
    specs = [TopicSpec(s.name, s.partitions, settings.config_for(s)) for s in specs]
    admin = make_admin(bootstrap, client_id="signaalpunt-topics")
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        if replication_factor > brokers:
            raise TopicAdminError(
                f"replication factor {replication_factor} asked, but the cluster has {brokers} "
                f"broker(s): set SIGNAALPUNT_TOPICS_REPLICATION_FACTOR to at most {brokers}"
            )
        existing = {
            t["topic"]: t
            for t in await admin.describe_topics([s.name for s in specs])
            if t["error_code"] == 0
        }
        changes: list[TopicChange] = []
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=s.name,
                        num_partitions=s.partitions,
                        replication_factor=replication_factor,
                        topic_configs=s.config,
                    )
                    for s in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:  # type: ignore[attr-defined]
                if code == INVALID_REPLICATION_FACTOR:
                    raise TopicAdminError(
                        f"creating {topic}: replication factor {replication_factor} refused {rest}"
                    )
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise TopicAdminError(f"creating {topic} failed: error {code} {rest}")
            changes += [TopicChange(s.name, s.partitions, "created") for s in missing]

        for spec in specs:
            if spec.name not in existing:
                continue
            partitions = existing[spec.name]["partitions"]
            have = len(partitions)
            replicas = min(len(p["replicas"]) for p in partitions)
            if replicas < replication_factor:
                changes.append(
                    TopicChange(
                        spec.name,
                        have,
                        "too few replicas",
                        f"replication factor {replicas}, settings ask {replication_factor}: "
                        "reassign partitions (kafka-reassign-partitions) to add replicas",
                    )
                )
                continue
            if have < spec.partitions:
                await admin.create_partitions(
                    {spec.name: NewPartitions(total_count=spec.partitions)}
                )
                changes.append(
                    TopicChange(
                        spec.name,
                        spec.partitions,
                        "partitions added",
                        f"{have} → {spec.partitions}",
                    )
                )
                continue
            if have > spec.partitions:
                changes.append(
                    TopicChange(
                        spec.name,
                        have,
                        "too many partitions",
                        f"broker has {have}, registry asks {spec.partitions}: "
                        "Kafka cannot shrink a topic",
                    )
                )
                continue
            changes.append(await _align_config(admin, spec, have))
        return changes
    finally:
        await admin.close()


async def _align_config(
    admin: AIOKafkaAdminClient, spec: TopicSpec, partitions: int
) -> TopicChange:
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, spec.name, dict.fromkeys(spec.config))]
    )
    current: dict[str, Any] = {}
    for response in described:
        for _code, _msg, _type, _name, entries in response.resources:  # type: ignore[attr-defined]
            current.update({entry[0]: entry[1] for entry in entries})
    drift = {k: v for k, v in spec.config.items() if current.get(k) != v}
    if not drift:
        return TopicChange(spec.name, partitions, "unchanged")
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, spec.config)])
    detail = ", ".join(f"{k}: {current.get(k)} → {v}" for k, v in drift.items())
    return TopicChange(spec.name, partitions, "config updated", detail)


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    admin = make_admin(bootstrap, client_id="signaalpunt-topics")
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def topic_partitions(
    bootstrap: str, topic: str, *, client_id: str = "signaalpunt-tools"
) -> list[int]:
    """A topic's partition numbers, asked of the broker (a fresh consumer's metadata cache
    knows none yet). Raises LookupError when the topic cannot be read or has none."""
    admin = make_admin(bootstrap, client_id=client_id)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic} cannot be read (error {described['error_code']})")
    return sorted(p["partition"] for p in described["partitions"])
