"""How durable every topic is: replication factor and `min.insync.replicas`, from settings.

Production (three brokers) wants 3 and 2: a write is acknowledged (`acks=all`) once two replicas
have it, and one broker may be down for maintenance without stopping producers. The single-node
local broker can only give 1 and 1. The same values go into the topics `signaalpunt-topics ensure`
creates and into the Strimzi `KafkaTopic` resources generated for Kubernetes.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from signaalpunt_contracts import TopicSpec


class TopicSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_TOPICS_", extra="ignore")

    kafka_bootstrap: str = Field(
        default_factory=lambda: os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    replication_factor: int = Field(
        default=1, ge=1, description="replicas per partition: 3 in production"
    )
    min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="replicas that must have a write before acks=all succeeds: 2 in production",
    )

    @model_validator(mode="after")
    def _isr_within_replicas(self) -> Self:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas {self.min_insync_replicas} exceeds replication_factor "
                f"{self.replication_factor}: no write could ever be acknowledged"
            )
        return self

    def config_for(self, spec: TopicSpec) -> dict[str, str]:
        """The topic's configuration on the broker: the registry's, plus durability."""
        return {**spec.config, "min.insync.replicas": str(self.min_insync_replicas)}
