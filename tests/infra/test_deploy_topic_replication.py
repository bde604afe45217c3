"""Topic durability comes from settings: the replication factor and `min.insync.replicas` that
production needs (3 and 2) are asked of the broker, never silently replaced by 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from signaalpunt_contracts import TopicSpec
from signaalpunt_runtime.broker_factory import client_options
from signaalpunt_runtime.topic_admin import ensure_topics
from signaalpunt_runtime.topics_settings import TopicSettings
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.processes import uv

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]


def test_a_replication_factor_the_cluster_cannot_give_fails_loudly(infra: Infra) -> None:
    """The local broker is one node: asking for 3 replicas must fail, not create (or keep)
    topics with one replica as if all were well."""
    result = subprocess.run(
        [uv(), "run", "--frozen", "signaalpunt-topics", "ensure"],
        cwd=REPO,
        env={
            **os.environ,
            "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "SIGNAALPUNT_TOPICS_REPLICATION_FACTOR": "3",
            "SIGNAALPUNT_TOPICS_MIN_INSYNC_REPLICAS": "2",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout
    assert "replication factor" in (result.stdout + result.stderr).lower()


async def test_min_insync_replicas_is_set_on_every_topic(
    infra: Infra, kafka_topics: TopicFactory
) -> None:
    settings = TopicSettings(replication_factor=1, min_insync_replicas=1)
    name = f"{kafka_topics.prefix}.durable.v1"
    changes = await ensure_topics(
        infra.kafka_bootstrap, [TopicSpec(name, 1, {"retention.ms": "60000"})], settings=settings
    )
    kafka_topics.created.append(name)
    assert [c.change for c in changes] == ["created"]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap, **client_options())
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None})]
        )
    finally:
        await admin.close()
    entries = {
        e[0]: e[1]
        for r in described
        for res in r.resources  # type: ignore[attr-defined]
        for e in res[4]
    }
    assert entries["min.insync.replicas"] == "1"
