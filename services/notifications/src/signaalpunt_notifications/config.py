"""Notifications' settings (environment prefix SIGNAALPUNT_NOTIFICATIONS_) and configuration files.

`municipalities.yaml`: per municipality its name, phone, signature, language, the desk and team
mailboxes, the coordinator on duty (a fixed contact, optionally a weekly roster) and staff with a
contact of their own (the social workers coupled to volunteers; others: the team welzijn mailbox).
`partners.yaml`: per partner its language and webhook signing secret (`whsec_`, Standard
Webhooks); the webhook URL comes from the partner registry (`listed_partners.py`). In
production both files come from the installation's secret store (the secrets and staff contacts
are not for the repository).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from signaalpunt_privacy.access_log import retention_days_field
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.tombstones import erasure_record_days_field

from .domain import (
    Contact,
    Directory,
    Municipality,
    Partner,
    QuietHours,
    RateLimit,
    RetryPolicy,
    RosterSlot,
    Webhook,
    choose_language,
)

HERE = Path(__file__).resolve().parent
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAALPUNT_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    http_port: int = 8103
    key_encryption_keys: SecretStr = Field(
        description="id:base64key[,…]: the same KEK set as intake (opens the reporters' data keys)"
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
    municipalities_file: Path = HERE / "municipalities.yaml"
    partners_file: Path = HERE / "partners.yaml"
    listed_partners_refresh: float = Field(
        default=2.0, gt=0, description="seconds between reads of the partners the registry lists"
    )

    # e-mail
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_starttls: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: STARTTLS when the server offers it"
    )
    smtp_tls: bool = Field(default=False, description="implicit TLS (port 465)")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Signaalpunt Eenzaamheid <noreply@signaalpunt.example>"
    message_id_domain: str = "notifications.signaalpunt.example"

    # SMS
    sms_provider: Literal["messagebird"] = "messagebird"
    sms_gateway_url: str = "http://127.0.0.1:1026/messages"
    sms_access_key: SecretStr = SecretStr("dev-access-key")
    sms_originator: str = Field(default="Signaalpunt", max_length=11)

    # planning: events per consumer transaction (one commit and one inbox write per batch instead
    # of per event; each event is still deduplicated and planned on its own, in order per signal)
    consume_batch_size: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="events per transaction when planning messages (1: one at a time)",
    )

    # sending
    send_timeout: float = Field(default=15, gt=0, description="seconds per attempt")
    sender_workers: int = Field(default=4, ge=1, description="concurrent senders per replica")
    acute_sender_workers: int = Field(
        default=1,
        ge=1,
        description="senders per replica that take acute messages only (the acute lane)",
    )
    sender_batch_size: int = Field(
        # a recipient's messages are claimed by one worker at a time, so a busy team mailbox
        # gets one round at a time: at 50 a round, a steady 40 signals/s (about 30 mails a
        # second, most to two mailboxes) fell behind by minutes; at 200 it kept up (issue 22)
        default=200,
        ge=1,
        le=1000,
        description="due messages a sender claims, sends and records in one transaction",
    )
    sender_in_flight: int = Field(
        default=16,
        ge=1,
        description="messages being sent at once per replica (one recipient's one at a time)",
    )
    sender_poll_interval: float = Field(default=0.5, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_initial: timedelta = Field(default=timedelta(seconds=5))
    backoff_max: timedelta = Field(default=timedelta(hours=1))
    rate_limit: int = Field(default=20, ge=1, description="messages per recipient …")
    rate_window: timedelta = Field(default=timedelta(hours=1), description="… per this window")
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    staff_portal_url: str = "http://127.0.0.1:8102/staff"
    access_log_retention_days: int = retention_days_field()
    erasure_record_days: int = erasure_record_days_field()
    tombstone_check_interval: float = Field(
        default=3600, gt=0, description="seconds between two runs of the tombstones' retention"
    )

    def development_values(self) -> Iterable[str]:
        # the packaged files are the development consortium: in production the installation's
        # own partners file must be given, with secrets of its own
        if self.partners_file == HERE / "partners.yaml":
            yield (
                "SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE: the packaged development partners "
                "(the development consortium, without webhook secrets)"
            )
            return
        partners = yaml.safe_load(self.partners_file.read_text()).get("partners") or []
        for entry in partners:
            secret = str((entry.get("webhook") or {}).get("secret") or "")
            if is_development_webhook_secret(secret):
                yield (
                    "SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE: a development webhook secret "
                    f"(scripts/dev_secrets.py, or one a package shipped) for {entry.get('urn')}"
                )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.backoff_initial, self.backoff_max)

    def rate_limit_policy(self) -> RateLimit:
        return RateLimit(self.rate_limit, self.rate_window)

    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.quiet_hours_start, self.quiet_hours_end)


DEVELOPMENT_SECRET_MARK = b"dev-"
"""The bytes every development webhook secret starts with: those scripts/dev_secrets.py makes,
and those the package once shipped (base64 of `dev-<partner>-secret`). Production refuses them."""


def development_webhook_secret() -> str:
    """A new webhook secret for development (Standard Webhooks: `whsec_` + base64)."""
    return "whsec_" + base64.b64encode(DEVELOPMENT_SECRET_MARK + os.urandom(24)).decode()


def is_development_webhook_secret(secret: str) -> bool:
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        return False
    return key.startswith(DEVELOPMENT_SECRET_MARK)


def _contact(data: dict[str, Any] | None) -> Contact:
    data = data or {}
    return Contact(email=data.get("email"), phone=data.get("phone"))


def _signature(value: str | dict[str, str]) -> dict[str, str]:
    texts = value if isinstance(value, dict) else {"nl": value, "en": value}
    return {language: " ".join(text.split()) for language, text in texts.items()}


def _slot(data: dict[str, Any]) -> RosterSlot:
    days = data["days"]
    return RosterSlot(
        weekdays=frozenset(WEEKDAYS.index(d) for d in days),
        start=time.fromisoformat(data["from"]),
        end=time.fromisoformat(data["to"]),
        contact=_contact(data),
    )


def load_directory(
    municipalities_file: Path,
    partners_file: Path,
    *,
    staff_portal_url: str,
    signing: bool = True,
) -> Directory:
    """The consortium's municipalities and partners. With `signing` (the service: it signs
    webhooks) every partner's webhook needs its secret; without (previews) none is read."""
    m = yaml.safe_load(municipalities_file.read_text())
    p = yaml.safe_load(partners_file.read_text())
    municipalities = {}
    for entry in m["municipalities"]:
        coordinator = entry["coordinator"]
        municipalities[entry["code"]] = Municipality(
            code=entry["code"],
            name=entry["name"],
            phone=entry["phone"],
            signature=_signature(entry["signature"]),
            language=choose_language(entry.get("language")),
            mailboxes={name: _contact(c) for name, c in entry["mailboxes"].items()},
            coordinator=_contact(coordinator.get("fixed")),
            roster=tuple(_slot(s) for s in coordinator.get("roster", ())),
            staff={staff_id: _contact(c) for staff_id, c in (entry.get("staff") or {}).items()},
        )
    partners = {}
    for entry in p["partners"]:
        hook = entry.get("webhook")
        if hook is not None and signing and not hook.get("secret"):
            # the packaged file has none (anyone can read it): an installation's own file, or
            # the development copy scripts/dev_secrets.py writes with generated secrets
            raise ValueError(
                f"no webhook secret for {entry['urn']} in {partners_file}: give a partners file "
                "with secrets (SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE; for development "
                "scripts/dev_secrets.py writes one into .local/)"
            )
        if hook is not None and signing and not str(hook["secret"]).startswith("whsec_"):
            raise ValueError(f"webhook secret of {entry['urn']} must start with whsec_")
        partners[entry["urn"]] = Partner(
            urn=entry["urn"],
            name=entry["name"],
            language=choose_language(entry.get("language")),
            # the URL comes from the partner registry (partners.listed.v1); one here is used
            # only for a partner the registry does not list
            webhook=Webhook(url=hook.get("url", ""), secret=hook.get("secret", ""))
            if hook
            else None,
        )
    return Directory(
        consortium=m["consortium"],
        municipalities=municipalities,
        partners=partners,
        staff_portal_url=staff_portal_url.rstrip("/"),
    )
