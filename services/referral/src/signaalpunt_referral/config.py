"""Referral's settings (environment prefix SIGNAALPUNT_REFERRAL_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from signaalpunt_privacy.access_log import retention_days_field
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.tombstones import erasure_record_days_field

HERE = Path(__file__).resolve().parent


class ReferralSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_REFERRAL_", extra="ignore")

    service_name: str = "referral"
    http_port: int = 8105
    key_encryption_keys: SecretStr = Field(
        description="id:base64key[,…]: seals notes and opens the help question for organisations"
    )
    key_store_database_url: SecretStr | None = Field(
        default=None, description="the key store's own role; default: the service's database"
    )
    jwks_file: Path = Field(default=Path(".local/dev-auth/jwks.json"))
    jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS URL (cached, refetched for a new key id); "
        "when set, jwks_file is not read",
    )
    token_issuer: str = "https://auth.signaalpunt.local"  # noqa: S105 - a URL, not a secret
    token_audience: str = "signaalpunt"  # noqa: S105
    response_working_days: int = Field(
        default=3, ge=1, le=20, description="default days an organisation has to answer"
    )
    proposals_per_question: int = Field(default=5, ge=1, le=20)
    access_log_retention_days: int = retention_days_field()
    erasure_record_days: int = erasure_record_days_field()
    tombstone_check_interval: float = Field(
        default=3600, gt=0, description="seconds between two runs of the tombstones' retention"
    )
    deadline_check_interval: float = Field(
        default=60.0, gt=0, description="seconds between looks at unanswered referrals"
    )
    webhook_interval: float = Field(
        default=2.0, gt=0, description="seconds between looks for webhooks to organisations"
    )
    webhook_timeout: float = Field(default=5.0, gt=0, description="seconds one delivery may take")
    webhook_max_attempts: int = Field(
        default=10, ge=1, le=30, description="attempts before a webhook delivery is given up"
    )
    webhook_retry_base: float = Field(
        default=10.0, gt=0, description="seconds before the second attempt; doubled each time"
    )
    # the case steps (every step of every signal, of which only help questions concern referral)
    # in one transaction per batch: one commit and one inbox write per batch, not per step
    consume_batch_size: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="case steps per transaction (1: one at a time)",
    )
    demo_map: Path | None = Field(
        default=None, description="an HSDS JSON file loaded at start when the map is empty"
    )


DEMO_MAP = HERE / "social_map_demo.json"
