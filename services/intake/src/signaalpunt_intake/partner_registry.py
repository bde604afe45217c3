"""The partner registry: who may send signals over Kafka, for which municipalities, signed with
which keys. Data in intake's database (`intake.partners`), changed only through `save` and
`set_active` (the `signaalpunt-partners` CLI), each change written to `intake.partner_audit` with
who made it, in the same transaction. Adding a partner needs no release and no restart: intake
reads the registry again every `partner_registry_refresh` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import asyncpg
from signaalpunt_runtime.logs import get_logger

from .domain import Partner
from .partner_repository import all_partners, publish_listings

log = get_logger(__name__)


class PartnerRegistry(Mapping[str, Partner]):
    """The active partners as intake last read them (a mapping by URN), read again in the
    background; lookups stay in memory, so decoding an event needs no query."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], *, refresh: float) -> None:
        self._pool = pool
        self._refresh = refresh
        self._partners: dict[str, Partner] = {}
        self._task: asyncio.Task[None] | None = None

    def __getitem__(self, urn: str) -> Partner:
        return self._partners[urn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._partners)

    def __len__(self) -> int:
        return len(self._partners)

    def signers_of(self, kid: str | None) -> list[tuple[Partner, dict[str, Any]]]:
        """Every partner with a signing key named `kid` (to tell who really signed)."""
        found = ((p, p.signing_key(kid)) for p in self._partners.values())
        return [(p, key) for p, key in found if key is not None]

    async def read(self) -> None:
        async with self._pool().acquire() as conn:
            partners = await all_partners(conn)
        self._partners = {p.urn: p for p in partners if p.active}

    async def start(self) -> None:
        await self.read()
        # the whole registry once more: an entry from before the listings topic, or one whose
        # listing was lost with the outbox, reaches the other services too (ids make it once)
        async with self._pool().acquire() as conn, conn.transaction():
            await publish_listings(conn)
        self._task = asyncio.create_task(self._keep_reading())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _keep_reading(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.read()
            except (OSError, asyncpg.PostgresError) as exc:
                # the last registry read stays in use until the database answers again
                log.warning("partner registry not read", error=type(exc).__name__)
