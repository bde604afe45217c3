"""Intake's settings (environment prefix SIGNAALPUNT_INTAKE_) and its configured tables."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from signaalpunt_privacy.access_log import retention_days_field
from signaalpunt_runtime import ServiceSettings

from .domain import Municipality, MunicipalityTable
from .retention import RetentionPolicy

HERE = Path(__file__).resolve().parent


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8101
    key_encryption_keys: SecretStr = Field(
        description="id:base64key[,id:base64key] (AES-256; first wraps new data keys)"
    )
    key_store_database_url: SecretStr | None = Field(
        default=None, description="the key store's own role; default: the service's database"
    )
    blind_index_key: SecretStr = Field(description="base64, ≥ 32 bytes; not the KEK")
    jwks_file: Path = Field(default=Path(".local/dev-auth/jwks.json"))
    jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS URL (cached, refetched for a new key id); "
        "when set, jwks_file is not read",
    )
    partner_decryption_key_file: Path = Field(
        default=Path(".local/dev-auth/intake-partner-key.json"),
        description=(
            "intake's private keys for partner events (a JWKS; one JWK is read as a set of one):"
            " partners encrypt to the public halves, served at /.well-known/jwks.json; the file"
            " is read again when an event names a kid not held, so a new key needs no restart"
        ),
    )
    token_issuer: str = "https://auth.signaalpunt.local"  # noqa: S105 - a URL, not a secret
    token_audience: str = "signaalpunt"  # noqa: S105
    municipalities_file: Path = HERE / "municipalities.yaml"
    partner_topic_prefix: str = Field(
        default="partner.",
        pattern=r"^[a-z][a-z0-9.-]*\.$",
        description="each partner's own rejection topic is <prefix><slug>.rejections.v1",
    )
    partner_registry_refresh: float = Field(
        default=2.0,
        gt=0,
        description="seconds between reads of the partner registry (signaalpunt-partners)",
    )
    partner_topic_cleanup_interval: float = Field(
        default=5.0,
        gt=0,
        description=(
            "seconds between deletions of the records intake has taken from partner.signals.v1"
            " (below its committed offsets): nothing a partner sent stays readable there"
        ),
    )
    duplicate_window: timedelta = Field(default=timedelta(days=90))
    web_form_limit: int = Field(default=20, ge=1, description="web-form signals per client …")
    web_form_window_seconds: int = Field(default=600, ge=1, description="… per this window")
    erasure_four_eyes: bool = Field(
        default=True, description="an erasure waits for a second coordinator's approval"
    )
    retention_default: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="retention periods in days after the final state (JSON)",
    )
    retention: dict[str, RetentionPolicy] = Field(
        default_factory=dict,
        description='a municipality\'s own retention periods (JSON: {"GM0715": {...}})',
    )
    retention_interval: float = Field(
        default=3600, gt=0, description="seconds between retention runs"
    )
    retention_dry_run: bool = Field(
        default=False, description="the scheduled run only reports what is due (logs, metric)"
    )
    access_log_retention_days: int = retention_days_field()
    erasure_record_days: int = Field(
        default=730,
        ge=180,
        description="days an erasure's record (ids, scope, reason, who, when) is kept after it "
        "was carried out; the access log's `intake.erasure` entry keeps as long as the log",
    )
    idempotency_in_flight_timeout: timedelta = Field(default=timedelta(seconds=60))
    partner_batch_size: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="partner events stored per transaction (one by one when one is refused)",
    )
    case_steps_batch_size: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="case steps (cases.steps.v1) applied per transaction (1: one at a time)",
    )

    group_commit_max: int = Field(
        default=256, ge=1, le=5000, description="HTTP submissions stored per transaction, at most"
    )
    group_commit_flushers: int = Field(
        default=2, ge=1, le=16, description="group-commit transactions in flight at once"
    )

    def blind_index_bytes(self) -> bytes:
        return base64.b64decode(self.blind_index_key.get_secret_value())


def load_municipalities(path: Path) -> MunicipalityTable:
    data = yaml.safe_load(path.read_text())
    return MunicipalityTable(
        consortium=data["consortium"],
        outside_advice=" ".join(data["outside_advice"].split()),
        municipalities=tuple(
            Municipality(
                code=m["code"],
                name=m["name"],
                postcode_areas=tuple((int(lo), int(hi)) for lo, hi in m["postcode_areas"]),
            )
            for m in data["municipalities"]
        ),
    )
