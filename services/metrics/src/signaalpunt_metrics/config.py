"""The metrics service's settings (environment prefix SIGNAALPUNT_METRICS_) and its tables:
inhabitants per municipality and the SMART goals."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.tombstones import erasure_record_days_field

from .domain import Goal, Municipality, Period

HERE = Path(__file__).resolve().parent


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_METRICS_", extra="ignore")

    service_name: str = "metrics"
    http_port: int = 8104
    inhabitants_file: Path = HERE / "inhabitants.yaml"
    goals_file: Path = HERE / "goals.yaml"
    refresh_interval: float = Field(
        # Prometheus scrapes every 15 s (deploy/prometheus): a refresh more often than that
        # computes figures nobody reads, and each one reads every read model (docs/metrics.md)
        default=15.0,
        ge=0.05,
        description="seconds between two refreshes of the figures, apart from the scrapes",
    )
    refresh_share: float = Field(
        # under load a refresh over a long history takes seconds of PostgreSQL's CPU (2.4 s a
        # refresh in a drain over 67,000 signals), which the pipeline it reports on needs
        default=0.1,
        gt=0,
        le=1,
        description="at most this share of the time spent refreshing: after a refresh of T "
        "seconds the next starts no sooner than T / share after it began",
    )
    time_zone: str = Field(
        default="Europe/Amsterdam",
        description="the calendar of the mission's days, weeks and months (an IANA zone name)",
    )
    erasure_record_days: int = erasure_record_days_field()
    tombstone_check_interval: float = Field(
        default=3600, gt=0, description="seconds between two runs of the tombstones' retention"
    )
    consume_batch_size: int = Field(
        default=200, ge=1, description="events per transaction when catching up"
    )


def load_inhabitants(path: Path) -> dict[str, Municipality]:
    data = yaml.safe_load(path.read_text())
    return {
        code: Municipality(code=code, name=str(m["name"]), inhabitants=int(m["inhabitants"]))
        for code, m in data["municipalities"].items()
    }


def _period(raw: dict[str, Any]) -> Period:
    return Period(start=_date(raw["from"]), until=_date(raw["until"]))


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_goals(path: Path) -> tuple[Goal, ...]:
    data = yaml.safe_load(path.read_text()) or {}
    return tuple(
        Goal(
            name=g["name"],
            description=" ".join(str(g.get("description", "")).split()),
            baseline=_period(g["baseline"]),
            period=_period(g["period"]),
            target_change=float(g["target_change"]),
            municipalities=tuple(g.get("municipalities") or ()),
            channels=tuple(g.get("channels") or ()),
            partner_types=tuple(g.get("partner_types") or ()),
        )
        for g in data.get("goals", [])
    )
