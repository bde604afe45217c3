"""The referral service's composition root: `python -m signaalpunt_referral.main`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import CASE_STEPS, MATCHES_REQUESTED, REFERRAL_GAPS, REFERRALS
from signaalpunt_privacy import KEY_STORE_MIGRATIONS, service_vault
from signaalpunt_privacy.access_log import AccessLogPruner
from signaalpunt_runtime import Service
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.serving import ServiceApp
from signaalpunt_runtime.tombstones import TombstonePruner

from . import repository as repo
from .api import build_api
from .config import ReferralSettings
from .erasure import register_erasure
from .handlers import Clock, Referrals, Topics, escalate_due, register_consumer, system_clock
from .hsds import MapOrganisation, read_document
from .match_outcomes import register_match_outcomes
from .webhooks import WebhookSender

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = get_logger(__name__)

DEFAULT_TOPICS = Topics(
    steps=CASE_STEPS, referrals=REFERRALS, matches=MATCHES_REQUESTED, gaps=REFERRAL_GAPS
)


class DeadlineWatcher:
    """Looks for referrals whose organisation did not answer in time (any replica may run it:
    the claim is FOR UPDATE SKIP LOCKED)."""

    def __init__(self, ctx: Referrals, interval: float) -> None:
        self.ctx, self.interval = ctx, interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await escalate_due(self.ctx)
            except Exception:  # a database that is down: try again next round
                log.exception("referral deadline check failed")
            await asyncio.sleep(self.interval)


async def load_map_if_empty(ctx: Referrals, path: Path) -> None:
    """The demo's social map, once: a map somebody already keeps is never overwritten."""
    async with ctx.service.transaction() as work:
        if not await repo.map_is_empty(work.connection):
            return
        text = await asyncio.to_thread(path.read_text)
        for item in read_document(json.loads(text)):
            if isinstance(item, MapOrganisation):
                await repo.upsert_organisation(work.connection, item)
                await repo.upsert_services(work.connection, item.services)
    log.info("demo social map loaded", file=path.name)


def build(
    settings: ReferralSettings,
    *,
    topics: Topics = DEFAULT_TOPICS,
    clock: Clock = system_clock,
    watch_deadlines: bool = True,
    send_webhooks: bool = True,
) -> tuple[Referrals, ServiceApp]:
    service = Service(
        settings,
        title="Signaalpunt referral",
        description=(
            "The social map (Open Referral HSDS); ranks offers for each help question; "
            "closed-loop referrals with capacity, deadlines and gap reports."
        ),
        migrations=MIGRATIONS,
        shared_migrations=[KEY_STORE_MIGRATIONS],
    )
    ctx = Referrals(
        service=service,
        vault=service_vault(
            service,
            key_encryption_keys=settings.key_encryption_keys.get_secret_value(),
            database_url=(
                settings.key_store_database_url or settings.database_url
            ).get_secret_value(),
        ),
        topics=topics,
        clock=clock,
        response_working_days=settings.response_working_days,
        proposals_per_question=settings.proposals_per_question,
    )
    register_consumer(
        ctx, batch_size=settings.consume_batch_size if settings.consume_batch_size > 1 else None
    )
    register_match_outcomes(ctx)
    register_erasure(ctx)
    if settings.demo_map is not None:
        demo_map = settings.demo_map

        async def load() -> None:
            await load_map_if_empty(ctx, demo_map)

        async def nothing() -> None:
            return None

        service.also_start(load, nothing)
    if watch_deadlines:
        watcher = DeadlineWatcher(ctx, settings.deadline_check_interval)
        service.also_start(watcher.start, watcher.stop)
    if send_webhooks:
        sender = WebhookSender(
            ctx,
            interval=settings.webhook_interval,
            timeout=settings.webhook_timeout,
            max_attempts=settings.webhook_max_attempts,
            retry_base=settings.webhook_retry_base,
        )
        service.also_start(sender.start, sender.stop)
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
    return ctx, service.asgi_app(http=build_api(ctx, verifier))


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_referral.main:create_app`."""
    return build(ReferralSettings())[1]


if __name__ == "__main__":
    ctx, app = build(ReferralSettings())
    ctx.service.run(app)
