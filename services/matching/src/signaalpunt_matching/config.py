"""Matching's settings (environment prefix SIGNAALPUNT_MATCHING_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from signaalpunt_privacy.access_log import retention_days_field
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.tombstones import erasure_record_days_field

HERE = Path(__file__).resolve().parent


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_MATCHING_", extra="ignore")

    service_name: str = "matching"
    http_port: int = 8106
    key_encryption_keys: SecretStr = Field(
        description="id:base64key[,…]: seals volunteers' personal data, opens the person's "
        "first name for the answer link"
    )
    key_store_database_url: SecretStr | None = Field(
        default=None, description="the key store's own role; default: the service's database"
    )
    answer_link_secret: SecretStr | None = Field(
        default=None,
        description="signs the volunteers' answer links (≥ 32 bytes); default: derived from the "
        "active key-encryption key (HKDF)",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8106", description="where volunteers open their answer links"
    )
    jwks_file: Path = Field(default=Path(".local/dev-auth/jwks.json"))
    jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS URL; when set, jwks_file is not read",
    )
    token_issuer: str = "https://auth.signaalpunt.local"  # noqa: S105 - a URL, not a secret
    token_audience: str = "signaalpunt"  # noqa: S105
    answer_hours: float = Field(
        default=72.0, gt=0, le=24 * 14, description="how long a volunteer has to answer"
    )
    candidate_limit: int = Field(
        default=200, ge=5, le=5000, description="most candidates the SQL pre-filter hands on"
    )
    follow_up_days: int = Field(
        default=28, ge=1, description="after the start: ask the social worker whether it works"
    )
    vog_warning_days: int = Field(
        default=30, ge=1, le=365, description="warn this long before a VOG expires"
    )
    access_log_retention_days: int = retention_days_field()
    erasure_record_days: int = erasure_record_days_field()
    tombstone_check_interval: float = Field(
        default=3600, gt=0, description="seconds between two runs of the tombstones' retention"
    )
    check_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between looks for expired proposals, follow-ups and expiring VOGs",
    )
    demo_volunteers: Path | None = Field(
        default=None, description="a volunteers CSV loaded at start when the registry is empty"
    )


DEMO_VOLUNTEERS = HERE / "volunteers_demo.csv"
