"""Partners as the partner registry lists them (intake publishes partners.listed.v1), joined with
what only notifications holds: each partner's webhook signing secret and language (its
`partners.yaml`, from the secret store in production).

The registry is where the consortium adds a partner or changes its webhook URL, without a
release: the URL listed there wins over one in `partners.yaml`; a partner the registry lists as
inactive hears nothing. A partner the registry does not list (yet) keeps what `partners.yaml`
says. Every replica reads the table again every `refresh` seconds (one replica consumes each
listing), so lookups stay in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import asyncpg
from signaalpunt_contracts import Envelope, PartnerListedV1, Topic
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.logs import get_logger

from .domain import Partner, Webhook

log = get_logger(__name__)


@dataclass(frozen=True)
class Listing:
    name: str
    webhook_url: str | None
    active: bool


def joined(urn: str, configured: Partner | None, listing: Listing | None) -> Partner | None:
    """What notifications knows of a partner: the registry's entry with the secret store's
    secret and language (pure, for the tests)."""
    if listing is None:
        if configured and configured.webhook and not configured.webhook.url:
            # a secret but no URL yet: the registry has not listed the partner's webhook
            return Partner(configured.urn, configured.name, configured.language, None)
        return configured
    if not listing.active:
        return None
    secret = configured.webhook.secret if configured and configured.webhook else None
    url = listing.webhook_url or (
        configured.webhook.url if configured and configured.webhook else None
    )
    return Partner(
        urn=urn,
        name=listing.name,
        language=configured.language if configured else "nl",
        webhook=Webhook(url=url, secret=secret) if url and secret else None,
    )


class ListedPartners(Mapping[str, Partner]):
    def __init__(
        self, configured: Mapping[str, Partner], pool: Callable[[], asyncpg.Pool], *, refresh: float
    ) -> None:
        self._configured = configured
        self._pool = pool
        self._refresh = refresh
        self._listed: dict[str, Listing] = {}
        self._task: asyncio.Task[None] | None = None

    def __getitem__(self, urn: str) -> Partner:
        partner = joined(urn, self._configured.get(urn), self._listed.get(urn))
        if partner is None:
            raise KeyError(urn)
        return partner

    def __iter__(self) -> Iterator[str]:
        return iter(set(self._configured) | set(self._listed))

    def __len__(self) -> int:
        return len(set(self._configured) | set(self._listed))

    async def read(self) -> None:
        rows = await self._pool().fetch(
            "SELECT urn, name, webhook_url, active FROM listed_partners"
        )
        self._listed = {r["urn"]: Listing(r["name"], r["webhook_url"], r["active"]) for r in rows}

    async def start(self) -> None:
        await self.read()
        self._task = asyncio.create_task(self._keep_reading(), name="listed-partners")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep_reading(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.read()
            except (OSError, asyncpg.PostgresError) as exc:
                # the last read stays in use until the database answers again
                log.warning("listed partners not read", error=type(exc).__name__)


async def remember_listing(event: Envelope[PartnerListedV1], work: UnitOfWork) -> None:
    """The latest listing per partner (an older one arriving late changes nothing)."""
    data = event.data
    await work.connection.execute(
        "INSERT INTO listed_partners (urn, name, webhook_url, active, changed_at)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (urn) DO UPDATE SET name = $2, webhook_url = $3, active = $4,"
        " changed_at = $5 WHERE listed_partners.changed_at < $5",
        data.partner,
        data.name,
        data.webhook_url,
        data.active,
        data.changed_at,
    )


def register_listed_partners(service: Service, topic: Topic, partners: ListedPartners) -> None:
    service.also_start(partners.start, partners.stop)
    service.consumer(topic)(remember_listing)
