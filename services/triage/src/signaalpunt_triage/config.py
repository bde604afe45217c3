"""Triage's settings (environment prefix SIGNAALPUNT_TRIAGE_)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from signaalpunt_privacy.access_log import retention_days_field
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.tombstones import erasure_record_days_field

HERE = Path(__file__).resolve().parent


class TriageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_TRIAGE_", extra="ignore")

    service_name: str = "triage"
    http_port: int = 8102
    key_encryption_keys: SecretStr = Field(
        description="id:base64key[,…]: unwraps subjects' data keys to read the concern text"
    )
    key_store_database_url: SecretStr | None = Field(
        default=None, description="the key store's own role; default: the service's database"
    )
    rules_dir: Path = Field(
        default=HERE / "rules", description="default.yaml plus GMxxxx.yaml overrides"
    )
    jwks_file: Path = Field(default=Path(".local/dev-auth/jwks.json"))
    jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS URL (cached, refetched for a new key id); "
        "when set, jwks_file is not read",
    )
    token_issuer: str = "https://auth.signaalpunt.local"  # noqa: S105 - a URL, not a secret
    token_audience: str = "signaalpunt"  # noqa: S105
    edit_lock_duration: timedelta = Field(default=timedelta(minutes=10))
    deadline_check_interval: float = Field(
        default=30.0, gt=0, description="seconds between the watcher's looks at due deadlines"
    )
    access_log_retention_days: int = retention_days_field()
    consume_batch_size: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="signals per transaction in triage in turn (1: one at a time)",
    )
    acute_lane: bool = Field(
        default=True,
        description="decide acute and possible-acute signals in a lane of their own, ahead of "
        "any backlog (off only to measure without it)",
    )
    acute_lane_batch: int = Field(
        default=200, ge=1, le=5000, description="events per transaction in the acute lane"
    )
    erasure_record_days: int = erasure_record_days_field()
    tombstone_check_interval: float = Field(
        default=3600, gt=0, description="seconds between two runs of the tombstones' retention"
    )
    deadline_batch: int = Field(default=200, ge=1, le=5000)
