"""The intake service's composition root: `uvicorn signaalpunt_intake.main:app` or
`python -m signaalpunt_intake.main`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import (
    CASE_STEPS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    SIGNALS_ERASED,
    SIGNALS_RECEIVED,
    Topic,
)
from signaalpunt_privacy import KEY_STORE_MIGRATIONS, BlindIndex, service_vault
from signaalpunt_privacy.access_log import AccessLogPruner
from signaalpunt_privacy.access_log_api import access_log_api
from signaalpunt_privacy.partner_encryption import PartnerKeyring
from signaalpunt_runtime import Service
from signaalpunt_runtime.group_commit import GroupCommit
from signaalpunt_runtime.serving import ServiceApp

from .api import Claims, Submissions, build_api
from .case_progress import register_case_progress
from .config import IntakeSettings, load_municipalities
from .domain import Partner
from .erasure_api import erasure_api
from .partner_api import add_partner_routes
from .partner_channel import PartnerTopics, register_partner_channel
from .partner_registry import PartnerRegistry
from .partner_topic_cleaner import TakenRecordsCleaner
from .recording import Intake, claim_keys, write_submissions
from .retention_job import Retention, RetentionWatcher
from .signal_view_api import signal_view_api
from .subject_access_api import subject_access_api

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_intake(
    settings: IntakeSettings,
    service: Service,
    *,
    received: Topic,
    erased: Topic,
    partners: Mapping[str, Partner],
) -> Intake:
    """Intake's working parts on a service (its vault opens and closes with it)."""
    return Intake(
        service=service,
        settings=settings,
        municipalities=load_municipalities(settings.municipalities_file),
        vault=service_vault(
            service,
            key_encryption_keys=settings.key_encryption_keys.get_secret_value(),
            database_url=(
                settings.key_store_database_url or settings.database_url
            ).get_secret_value(),
        ),
        index=BlindIndex(settings.blind_index_bytes()),
        verifier=TokenVerifier.configured(
            jwks_url=settings.jwks_url,
            jwks_file=settings.jwks_file,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        ),
        received=received,
        partners=partners,
        erased=erased,
        erasures_done=Counter(
            "signaalpunt_erasures",
            "Signals whose personal data was erased, by scope (person or reporter only)",
            ["scope"],
            registry=service.metrics,
        ),
    )


def build(
    settings: IntakeSettings,
    *,
    received: Topic = SIGNALS_RECEIVED,
    partner_signals: Topic = PARTNER_SIGNALS,
    rejections: Topic = PARTNER_REJECTIONS,
    case_steps: Topic = CASE_STEPS,
    erased: Topic = SIGNALS_ERASED,
) -> tuple[Service, ServiceApp]:
    service = Service(
        settings,
        title="Signaalpunt intake",
        description="Signals in through every channel; one canonical signal out.",
        migrations=MIGRATIONS,
        shared_migrations=[KEY_STORE_MIGRATIONS],
        # the outbox takes signals in while Kafka is down: ready with PostgreSQL alone
        needs=("postgres",),
    )
    partners = PartnerRegistry(lambda: service.pool, refresh=settings.partner_registry_refresh)
    intake = make_intake(settings, service, received=received, erased=erased, partners=partners)
    service.also_start(partners.start, partners.stop)  # after the database, before consumers
    keyring = PartnerKeyring(settings.partner_decryption_key_file)
    partner_topics = PartnerTopics(settings.kafka_bootstrap, settings.partner_topic_prefix)
    register_partner_channel(intake, partner_signals, rejections, keyring, partner_topics)
    cleaner = TakenRecordsCleaner(
        settings.kafka_bootstrap,
        partner_signals.name,
        "intake",
        interval=settings.partner_topic_cleanup_interval,
        security=settings.kafka_security,
    )
    service.also_start(cleaner.start, cleaner.stop)
    register_case_progress(
        service,
        case_steps,
        batch_size=settings.case_steps_batch_size if settings.case_steps_batch_size > 1 else None,
    )
    retention = Retention(intake, settings)
    watcher = RetentionWatcher(
        partial(retention.run, dry_run=settings.retention_dry_run), settings.retention_interval
    )
    service.also_start(watcher.start, watcher.stop)
    pruner = AccessLogPruner(
        lambda: service.pool,
        retention_days=settings.access_log_retention_days,
        interval=settings.retention_interval,
    )
    service.also_start(pruner.start, pruner.stop)

    # concurrent submissions (and their key claims) share a transaction (group commit); started
    # after the database, stopped before it, after storing everything already submitted
    def grouped(flush: Any, name: str) -> Any:
        return GroupCommit(
            partial(flush, intake),
            name=name,
            max_group=settings.group_commit_max,
            flushers=settings.group_commit_flushers,
            registry=service.metrics,
        )

    submissions: Submissions = grouped(write_submissions, "signals")
    claims: Claims = grouped(claim_keys, "idempotency-claims")
    service.also_start(claims.start, claims.stop)
    service.also_start(submissions.start, submissions.stop)
    # the busiest route skips FastAPI's per-request machinery (same function, same problems)
    api = build_api(intake, submissions, claims)
    add_partner_routes(api, keyring)
    api.include_router(erasure_api(intake))  # the coordinators' erasure workflow
    api.include_router(subject_access_api(intake))  # AVG art. 15
    api.include_router(signal_view_api(intake))  # the desk's and coordinators' view (console)
    api.include_router(access_log_api(lambda: service.pool, intake.verifier, service="intake"))
    return service, service.asgi_app(http=api, direct=[("POST", "/v1/signals")])


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_intake.main:create_app`."""
    return build(IntakeSettings())[1]


if __name__ == "__main__":
    service, app = build(IntakeSettings())
    service.run(app)
