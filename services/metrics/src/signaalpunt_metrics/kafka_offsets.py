"""Consumer lag and dead letters, read from Kafka's own offsets (admin API and end offsets), and
the cluster's health as its metadata tells it (brokers, under-replicated partitions).

Lag of a group on a partition = end offset − the group's committed offset (the whole retained
partition while the group has committed nothing). Dead letters of a group on a topic = the end
offset of `<topic>.dlq.<group>`: it only grows, so Prometheus can treat it as a counter, and a
replay (which reads, never deletes) does not lower it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from signaalpunt_contracts import Topic
from signaalpunt_runtime.broker_factory import make_admin, make_reader
from signaalpunt_runtime.kafka_security import KafkaSecurity


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class DeadLetterCount:
    topic: str
    group: str
    total: int


@dataclass(frozen=True)
class OffsetReport:
    lag: list[PartitionLag]
    dead_letters: list[DeadLetterCount]
    brokers: int = 0
    """Brokers in the cluster's metadata."""
    under_replicated: dict[str, int] = field(default_factory=dict)
    """Per watched topic: partitions with fewer in-sync replicas than replicas."""


class KafkaOffsets:
    def __init__(
        self, bootstrap: str, topics: Sequence[Topic], security: KafkaSecurity | None = None
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._topics = tuple(topics)
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        # built here, not in __init__: aiokafka clients need the running event loop, and the
        # composition root runs before uvicorn starts one
        self._admin = make_admin(
            self._bootstrap, client_id="metrics-offsets", security=self._security
        )
        await self._admin.start()
        self._reader = make_reader(self._bootstrap, security=self._security)
        await self._reader.start()

    async def stop(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def _partitions(self, names: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        """Partition count of each topic that exists (a missing dead-letter topic is skipped),
        and how many of its partitions have fewer in-sync replicas than replicas."""
        assert self._admin is not None, "start() first"
        described = [t for t in await self._admin.describe_topics(names) if t["error_code"] == 0]
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        behind = {
            t["topic"]: sum(len(p["isr"]) < len(p["replicas"]) for p in t["partitions"])
            for t in described
        }
        return counts, behind

    async def read(self) -> OffsetReport:
        assert self._admin is not None, "start() first"
        assert self._reader is not None, "start() first"
        dlq_names = {
            dlq: (topic.name, group)
            for topic in self._topics
            for group, dlq in topic.dead_letter_topics.items()
        }
        partitions, behind = await self._partitions(
            [t.name for t in self._topics] + list(dlq_names)
        )
        tps = [TopicPartition(name, p) for name, n in partitions.items() for p in range(n)]
        ends: dict[TopicPartition, int] = await self._reader.end_offsets(tps) if tps else {}
        starts: dict[TopicPartition, int] = await self._reader.beginning_offsets(tps) if tps else {}

        lag: list[PartitionLag] = []
        groups = sorted({g for t in self._topics for g in t.consumers})
        for group in groups:
            committed = {
                tp: meta.offset
                for tp, meta in (await self._admin.list_consumer_group_offsets(group)).items()
            }
            for topic in self._topics:
                if group not in topic.consumers or topic.name not in partitions:
                    continue
                for p in range(partitions[topic.name]):
                    tp = TopicPartition(topic.name, p)
                    position = committed.get(tp, -1)
                    if position < 0:
                        position = starts[tp]
                    lag.append(PartitionLag(group, topic.name, p, max(0, ends[tp] - position)))

        dead = [
            DeadLetterCount(topic, group, ends[TopicPartition(dlq, 0)])
            for dlq, (topic, group) in sorted(dlq_names.items())
            if dlq in partitions
        ]
        cluster = await self._admin.describe_cluster()
        watched = {t.name for t in self._topics}
        return OffsetReport(
            lag=lag,
            dead_letters=dead,
            brokers=len(cluster.get("brokers") or ()),
            under_replicated={t: n for t, n in sorted(behind.items()) if t in watched},
        )
