"""The metrics service's composition root: `python -m signaalpunt_metrics.main`.

It consumes every domain topic (consumer group "metrics"), keeps read models in its own schema and
serves Prometheus metrics computed from them at /metrics, with consumer lag and dead letters of
every consumer group read from Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from signaalpunt_contracts import REGISTRY, Topic
from signaalpunt_runtime import Service
from signaalpunt_runtime.serving import ServiceApp
from signaalpunt_runtime.tombstones import TombstonePruner

from .api import build_api
from .collector import ReadModelCollector
from .config import MetricsSettings, load_goals, load_inhabitants
from .handlers import MetricsTopics, register
from .kafka_offsets import KafkaOffsets

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build(
    settings: MetricsSettings,
    *,
    topics: MetricsTopics | None = None,
    watched: Sequence[Topic] | None = None,
) -> tuple[Service, ServiceApp]:
    """`watched`: the topics whose consumer groups' lag and dead letters are reported
    (default: every topic of the registry)."""
    topics = topics or MetricsTopics()
    service = Service(
        settings,
        title="Signaalpunt metrics",
        description="Read models of every domain topic, as Prometheus metrics; consumer lag.",
        migrations=MIGRATIONS,
    )
    register(service, topics, batch_size=settings.consume_batch_size)
    offsets = KafkaOffsets(
        settings.kafka_bootstrap,
        list(watched) if watched is not None else list(REGISTRY),
        settings.kafka_security,
    )
    service.also_start(offsets.start, offsets.stop)
    collector = ReadModelCollector(
        pool=lambda: service.pool,
        offsets=offsets,
        municipalities=load_inhabitants(settings.inhabitants_file),
        goals=load_goals(settings.goals_file),
        refresh_interval=settings.refresh_interval,
        refresh_share=settings.refresh_share,
        time_zone=ZoneInfo(settings.time_zone),
    )
    service.metrics.register(collector)
    # after the offsets reader (started first), so the first figures include the lag
    service.also_start(collector.start, collector.stop)
    # the ids of erased signals (late events count under a random id) go with intake's records
    tombstones = TombstonePruner(
        lambda: service.pool,
        retention_days=settings.erasure_record_days,
        interval=settings.tombstone_check_interval,
    )
    service.also_start(tombstones.start, tombstones.stop)
    app = service.asgi_app(http=build_api())
    return service, app


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_metrics.main:create_app`."""
    return build(MetricsSettings())[1]


if __name__ == "__main__":
    service, app = build(MetricsSettings())
    service.run(app)
