"""The matching service's composition root: `python -m signaalpunt_matching.main`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import MATCHES, MATCHES_REQUESTED, VOLUNTEERS_VOG_EXPIRING
from signaalpunt_privacy import KEY_STORE_MIGRATIONS, KeyEncryptionKeys, service_vault
from signaalpunt_privacy.access_log import AccessLogPruner
from signaalpunt_runtime import Service
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.serving import ServiceApp
from signaalpunt_runtime.tombstones import TombstonePruner

from . import repository as repo
from .api import build_api
from .config import MatchingSettings
from .csv_import import read_csv
from .erasure import register_erasure
from .handlers import (
    Clock,
    Matching,
    Topics,
    expire_due,
    follow_up_due,
    register_consumer,
    system_clock,
    warn_vog_expiring,
)
from .links import AnswerLinks, derived_secret
from .registry import register

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = get_logger(__name__)

DEFAULT_TOPICS = Topics(requests=MATCHES_REQUESTED, matches=MATCHES, vog=VOLUNTEERS_VOG_EXPIRING)


class Watcher:
    """Expired proposals, due follow-ups and expiring VOGs (any replica may run it: every claim
    is FOR UPDATE SKIP LOCKED)."""

    def __init__(self, checks: list[Callable[[], Awaitable[int]]], interval: float) -> None:
        self.checks, self.interval = checks, interval
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
            for check in self.checks:
                try:
                    await check()
                except Exception:  # a database that is down: try again next round
                    log.exception("matching watcher check failed")
            await asyncio.sleep(self.interval)


async def load_demo_volunteers(ctx: Matching, path: Path) -> None:
    """The demo's volunteers, once: a registry somebody already keeps is never overwritten."""
    async with ctx.service.pool.acquire() as conn:
        if not await repo.registry_is_empty(conn):
            return
    parsed = read_csv(await asyncio.to_thread(path.read_text))
    result = await register(
        ctx,
        [item for _, item in parsed.items],
        municipalities=frozenset(i.municipality for _, i in parsed.items),
        by="demo",
    )
    log.info("demo volunteers loaded", created=len(result.created), file=path.name)


def answer_link_secret(settings: MatchingSettings) -> bytes:
    if settings.answer_link_secret is not None:
        return settings.answer_link_secret.get_secret_value().encode()
    keks = KeyEncryptionKeys.from_spec(settings.key_encryption_keys.get_secret_value())
    return derived_secret(keks.keys[0][1])


def build(
    settings: MatchingSettings,
    *,
    topics: Topics = DEFAULT_TOPICS,
    clock: Clock = system_clock,
    watch: bool = True,
) -> tuple[Matching, ServiceApp]:
    service = Service(
        settings,
        title="Signaalpunt matching",
        description=(
            "The volunteer registry; fair, explained matches of trained volunteers with a coupled "
            "social worker; signed one-time answer links; unmatched report and VOG warnings."
        ),
        migrations=MIGRATIONS,
        shared_migrations=[KEY_STORE_MIGRATIONS],
    )
    ctx = Matching(
        service=service,
        vault=service_vault(
            service,
            key_encryption_keys=settings.key_encryption_keys.get_secret_value(),
            database_url=(
                settings.key_store_database_url or settings.database_url
            ).get_secret_value(),
        ),
        topics=topics,
        links=AnswerLinks(answer_link_secret(settings), settings.public_url),
        clock=clock,
        answer_hours=settings.answer_hours,
        candidate_limit=settings.candidate_limit,
        follow_up_days=settings.follow_up_days,
        vog_warning_days=settings.vog_warning_days,
    )
    register_consumer(ctx)
    register_erasure(ctx)
    if settings.demo_volunteers is not None:
        demo = settings.demo_volunteers

        async def load() -> None:
            await load_demo_volunteers(ctx, demo)

        async def nothing() -> None:
            return None

        service.also_start(load, nothing)
    if watch:
        watcher = Watcher(
            [
                lambda: expire_due(ctx),
                lambda: follow_up_due(ctx),
                lambda: warn_vog_expiring(ctx),
            ],
            settings.check_interval,
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
    return ctx, service.asgi_app(http=build_api(ctx, verifier))


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_matching.main:create_app`."""
    return build(MatchingSettings())[1]


if __name__ == "__main__":
    ctx, app = build(MatchingSettings())
    ctx.service.run(app)
