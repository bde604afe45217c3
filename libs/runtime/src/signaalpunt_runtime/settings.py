"""Settings base for every service (pydantic-settings).

Each service subclasses `ServiceSettings` with its own env prefix, e.g. `SIGNAALPUNT_INTAKE_`. The
connection settings fall back to the shared variables that `deploy/local/infra.sh env` prints
(`SIGNAALPUNT_KAFKA_BOOTSTRAP`, `SIGNAALPUNT_DATABASE_URL`), so one environment serves all services
while a single service can still be pointed elsewhere.
"""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str, default: str) -> str:
    return os.environ.get(name, default)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_SERVICE_", extra="ignore")

    service_name: str = Field(description="the service's name: logs, metrics, client id, producer")
    instance: str = Field(
        default_factory=lambda: os.environ.get("HOSTNAME", "local"),
        description="this replica (pod name in Kubernetes)",
    )
    kafka_bootstrap: str = Field(
        default_factory=lambda: _shared("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(
            _shared(
                "SIGNAALPUNT_DATABASE_URL",
                "postgresql://signaalpunt:signaalpunt@127.0.0.1:55432/signaalpunt",
            )
        )
    )
    database_schema: str = Field(
        default="", pattern=r"^[a-z_][a-z0-9_]*$|^$", description="defaults to the service name"
    )
    database_pool_size: int = Field(default=10, ge=1)
    migrate_on_start: bool = Field(default=True, description="apply migrations at start-up")

    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 inside a container")
    http_port: int = Field(default=8000, ge=0, le=65535)
    max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="a larger HTTP request body is refused with a 413 problem, unread",
    )
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(
        default_factory=lambda: os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP endpoint for traces and metrics; none = no export",
    )

    # Delivery
    static_membership: bool = Field(
        default=False,
        description="use the instance name as Kafka group.instance.id (stable pod names, as in a "
        "StatefulSet): a restarted replica gets its partitions back at once, without a rebalance",
    )
    consumer_session_timeout_ms: int = Field(default=10_000, ge=6_000)
    commit_interval: float = Field(
        default=0.5, gt=0, description="seconds between offset commits of handled messages"
    )
    commit_max_pending: int = Field(default=500, ge=1, description="commit at least this often")
    retry_attempts: int = Field(default=5, ge=1, description="tries per event before dead letter")
    retry_initial_delay: float = Field(default=0.2, gt=0, description="seconds, doubles per try")
    retry_max_delay: float = Field(default=5.0, gt=0)
    max_consecutive_dead_letters: int = Field(
        default=20,
        ge=1,
        description="after this many dead letters in a row the consumer stops (a bad deploy "
        "must not drain a topic into its dead-letter topic)",
    )
    outbox_batch_size: int = Field(default=200, ge=1)
    outbox_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds; LISTEN/NOTIFY wakes the relay sooner"
    )
    outbox_linger: float = Field(
        default=0.01, ge=0, description="seconds the woken relay waits so a burst goes as one batch"
    )
    outbox_keep_published: timedelta = Field(default=timedelta(days=7))
    inbox_keep: timedelta = Field(
        default=timedelta(days=35),
        description="longer than any topic's or dead-letter topic's retention, so a replay "
        "is still recognised",
    )

    @property
    def schema_name(self) -> str:
        return self.database_schema or self.service_name.replace("-", "_")
