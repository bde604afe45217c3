"""The triage service's composition root: `python -m signaalpunt_triage.main`."""

from __future__ import annotations

from pathlib import Path

from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import (
    CASE_STEPS,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    Cue,
)
from signaalpunt_privacy import KEY_STORE_MIGRATIONS, service_vault
from signaalpunt_privacy.access_log import AccessLogPruner
from signaalpunt_runtime import Service
from signaalpunt_runtime.serving import ServiceApp
from signaalpunt_runtime.tombstones import TombstonePruner

from .api import build_api
from .config import TriageSettings
from .erasure import register_erasure
from .handlers import Clock, Topics, Triage, register_consumer, system_clock
from .rules import Rulebook
from .watcher import DeadlineWatcher

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

DEFAULT_TOPICS = Topics(
    received=SIGNALS_RECEIVED,
    triaged=SIGNALS_TRIAGED,
    alerts=SIGNALS_ACUTE_ALERTS,
    missed=SIGNALS_DEADLINE_MISSED,
    erased=SIGNALS_ERASED,
    steps=CASE_STEPS,
    possible_alerts=SIGNALS_POSSIBLE_ACUTE_ALERTS,
    review_missed=SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    referrals=REFERRALS,
)


def load_rulebook(settings: TriageSettings) -> Rulebook:
    """Fails at start, naming file and line, when a rules file is wrong."""
    return Rulebook.load(settings.rules_dir, {c.value for c in Cue})


def build(
    settings: TriageSettings,
    *,
    topics: Topics = DEFAULT_TOPICS,
    clock: Clock = system_clock,
    watch_deadlines: bool = True,
) -> tuple[Triage, ServiceApp]:
    service = Service(
        settings,
        title="Signaalpunt triage",
        description=(
            "Proposes route, risk groups, priority and first-contact deadline for every signal "
            "from explainable rules; coordinators confirm or change; deadlines are watched."
        ),
        migrations=MIGRATIONS,
        shared_migrations=[KEY_STORE_MIGRATIONS],
    )
    triage = Triage(
        service=service,
        rulebook=load_rulebook(settings),
        vault=service_vault(
            service,
            key_encryption_keys=settings.key_encryption_keys.get_secret_value(),
            database_url=(
                settings.key_store_database_url or settings.database_url
            ).get_secret_value(),
        ),
        topics=topics,
        clock=clock,
        lock_duration=settings.edit_lock_duration,
    )
    register_consumer(
        triage,
        batch_size=settings.consume_batch_size if settings.consume_batch_size > 1 else None,
        acute_lane_batch=settings.acute_lane_batch if settings.acute_lane else None,
    )
    register_erasure(triage)
    if watch_deadlines:
        watcher = DeadlineWatcher(
            triage, interval=settings.deadline_check_interval, batch=settings.deadline_batch
        )
        service.also_start(watcher.start, watcher.stop)
    pruner = AccessLogPruner(
        lambda: service.pool, retention_days=settings.access_log_retention_days
    )
    service.also_start(pruner.start, pruner.stop)
    # erased signals' tombstones (erased_signals) are kept as long as intake's erasure records
    tombstones = TombstonePruner(
        lambda: service.pool,
        retention_days=settings.erasure_record_days,
        interval=settings.tombstone_check_interval,
    )
    service.also_start(tombstones.start, tombstones.stop)
    verifier = TokenVerifier.configured(
        jwks_url=settings.jwks_url,
        jwks_file=settings.jwks_file,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    return triage, service.asgi_app(http=build_api(triage, verifier))


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_triage.main:create_app`."""
    return build(TriageSettings())[1]


if __name__ == "__main__":
    triage, app = build(TriageSettings())
    triage.service.run(app)
