"""The notifications service's composition root: `python -m signaalpunt_notifications.main`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import (
    CASE_STEPS,
    MATCHES,
    NOTIFICATIONS,
    PARTNER_REJECTIONS,
    PARTNERS_LISTED,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    VOLUNTEERS_VOG_EXPIRING,
    Topic,
)
from signaalpunt_contracts.notifications import MessageChannel
from signaalpunt_privacy import KEY_STORE_MIGRATIONS, service_vault
from signaalpunt_privacy.access_log import AccessLogPruner
from signaalpunt_runtime import Service
from signaalpunt_runtime.serving import ServiceApp
from signaalpunt_runtime.tombstones import TombstonePruner, Tombstones

from .api import build_api
from .channels import Channel, EmailChannel, HttpClient, MessageBirdSms, WebhookChannel
from .config import NotificationsSettings, load_directory
from .domain import RuleBook
from .handlers import register_consumers
from .listed_partners import ListedPartners, register_listed_partners
from .rules import default_rules
from .sender import AddressBook, Clock, Policies, SendCountPruner, Sender, SenderMetrics
from .templates import Templates

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

CONSUMED: tuple[Topic, ...] = (
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_DEADLINE_MISSED,
    CASE_STEPS,
    PARTNER_REJECTIONS,
    REFERRALS,
    MATCHES,  # the volunteer's proposal, the social worker's acceptance and follow-up
    VOLUNTEERS_VOG_EXPIRING,  # the coordinator renews a certificate of conduct in time
    SIGNALS_ERASED,  # forget what was kept for an erased signal
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Extensions:
    """What a later service (or a test) adds without touching channels or dedupe."""

    rules: RuleBook = field(default_factory=default_rules)
    topics: Sequence[Topic] = CONSUMED
    template_folders: Sequence[Path] = ()
    channels: Mapping[MessageChannel, Channel] | None = None
    """Replace the channels (tests wrap them); default: SMTP, the SMS gateway, webhooks."""
    partners_listed: Topic = PARTNERS_LISTED


@dataclass
class Notifications:
    service: Service
    app: ServiceApp
    sender: Sender
    addresses: AddressBook
    rules: RuleBook


def build(
    settings: NotificationsSettings,
    *,
    notifications: Topic = NOTIFICATIONS,
    extensions: Extensions | None = None,
    clock: Clock = utc_now,
) -> tuple[Service, ServiceApp]:
    composed = compose(settings, notifications=notifications, extensions=extensions, clock=clock)
    return composed.service, composed.app


def compose(
    settings: NotificationsSettings,
    *,
    notifications: Topic = NOTIFICATIONS,
    extensions: Extensions | None = None,
    clock: Clock = utc_now,
) -> Notifications:
    """The service with its parts exposed (tests and later services reach the sender, the
    address book and the rule book)."""
    extensions = extensions or Extensions()
    service = Service(
        settings,
        title="Signaalpunt notifications",
        description="E-mail, SMS and signed webhooks: exactly one message per reason.",
        migrations=MIGRATIONS,
        shared_migrations=[KEY_STORE_MIGRATIONS],
    )
    vault = service_vault(
        service,
        key_encryption_keys=settings.key_encryption_keys.get_secret_value(),
        database_url=(settings.key_store_database_url or settings.database_url).get_secret_value(),
    )
    directory = load_directory(
        settings.municipalities_file,
        settings.partners_file,
        staff_portal_url=settings.staff_portal_url,
    )
    # the partner registry's listings (webhook URLs) joined with the secret store's secrets
    listed = ListedPartners(
        directory.partners, lambda: service.pool, refresh=settings.listed_partners_refresh
    )
    directory = replace(directory, partners=listed)
    register_listed_partners(service, extensions.partners_listed, listed)
    addresses = AddressBook(directory, vault)
    http = HttpClient(timeout=settings.send_timeout)
    channels = extensions.channels or {
        MessageChannel.EMAIL: EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            message_id_domain=settings.message_id_domain,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.send_timeout,
        ),
        MessageChannel.SMS: MessageBirdSms(
            http,
            url=settings.sms_gateway_url,
            access_key=settings.sms_access_key.get_secret_value(),
            originator=settings.sms_originator,
        ),
        MessageChannel.WEBHOOK: WebhookChannel(http),
    }
    sender = Sender(
        pool=lambda: service.pool,
        schema=settings.schema_name,
        producer=settings.service_name,
        group=settings.service_name,
        channels=channels,
        templates=Templates(extensions.template_folders),
        addresses=addresses,
        policies=Policies(
            retry=settings.retry_policy(),
            rate_limit=settings.rate_limit_policy(),
            quiet_hours=settings.quiet_hours(),
            send_timeout=settings.send_timeout,
        ),
        notifications=notifications,
        metrics=SenderMetrics(service.metrics),
        clock=clock,
        tracer=service.telemetry.tracer_provider.get_tracer("signaalpunt.notifications"),
        workers=settings.sender_workers,
        acute_workers=settings.acute_sender_workers,
        batch_size=settings.sender_batch_size,
        in_flight=settings.sender_in_flight,
        poll_interval=settings.sender_poll_interval,
    )

    async def start() -> None:
        await sender.start()

    async def stop() -> None:
        # before the key store (registered earlier, so stopped later): messages in flight
        # still need it and the HTTP client
        await sender.stop()
        await http.close()
        email = channels.get(MessageChannel.EMAIL)
        if isinstance(email, EmailChannel):
            await email.sessions.close()

    service.also_start(start, stop)
    # the counts outlive the rate limit's window by at most a minute
    counts = SendCountPruner(lambda: service.pool, lambda: sender.policies.rate_limit.window, clock)
    service.also_start(counts.start, counts.stop)
    register_consumers(
        service,
        extensions.topics,
        extensions.rules,
        directory,
        clock,
        batch_size=settings.consume_batch_size,
    )
    verifier = TokenVerifier.configured(
        jwks_url=settings.jwks_url,
        jwks_file=settings.jwks_file,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    pruner = AccessLogPruner(
        lambda: service.pool, retention_days=settings.access_log_retention_days
    )
    service.also_start(pruner.start, pruner.stop)
    # an erased signal's facts are an empty tombstone (erase_signal): kept as long as intake
    # keeps its erasure records
    tombstones = TombstonePruner(
        lambda: service.pool,
        retention_days=settings.erasure_record_days,
        interval=settings.tombstone_check_interval,
        where=Tombstones(table="signals", at="updated_at", which="(facts->>'erased')::boolean"),
    )
    service.also_start(tombstones.start, tombstones.stop)
    app = service.asgi_app(http=build_api(service, verifier, clock))
    return Notifications(service, app, sender, addresses, extensions.rules)


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_notifications.main:create_app`."""
    return build(NotificationsSettings())[1]


if __name__ == "__main__":
    service, app = build(NotificationsSettings())
    service.run(app)
