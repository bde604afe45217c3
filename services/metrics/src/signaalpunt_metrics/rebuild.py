"""Rebuild the read models from the full topic history (what the topics still retain).

With the metrics service stopped (its consumer group has no members; checked):
1. migrate a fresh schema `<schema>_rebuild`;
2. read every consumed topic from its first retained offset to its current end, writing through
   the same batch functions the live consumers use (one statement per table per fetched batch),
   with the inbox rows of a batch in one statement (group "metrics");
3. swap the schemas in one transaction (the old read models are dropped).

No offsets need to move: the group's committed offsets are at or before where the rebuild
stopped (nothing consumed while it ran), and the new inbox holds every event the rebuild read,
so the restarted service treats the overlap as duplicates and goes on from there.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from pydantic import ValidationError
from signaalpunt_contracts import Envelope, Topic
from signaalpunt_runtime.broker_factory import make_admin, make_reader
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.tenancy import EVERYTHING, SCOPE_SETTING
from signaalpunt_runtime.topic_admin import topic_partitions

from .config import MetricsSettings
from .handlers import Apply, MetricsTopics
from .main import MIGRATIONS

Progress = Callable[[str, int, int], None]
"""Told (topic, events done, events in total) as the rebuild goes."""


class RebuildRefusedError(RuntimeError):
    pass


@dataclass
class RebuildReport:
    events: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    """Events that do not validate: the live consumer dead-letters those, and so skips them."""


async def rebuild(
    settings: MetricsSettings,
    topics: MetricsTopics | None = None,
    *,
    progress: Progress | None = None,
    batch: int = 2000,
) -> RebuildReport:
    topics = topics or MetricsTopics()
    group = settings.service_name
    if await _group_has_members(settings.kafka_bootstrap, group):
        raise RebuildRefusedError(
            f"consumer group {group!r} has active members: stop the metrics service first"
        )
    dsn = settings.database_url.get_secret_value()
    schema = settings.schema_name
    fresh = f"{schema}_rebuild"
    admin_conn = await asyncpg.connect(dsn)
    try:
        await admin_conn.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
    finally:
        await admin_conn.close()
    await upgrade_async(MIGRATIONS, dsn, fresh)

    report = RebuildReport()
    # the read models are held to row-level security, the migrating owner too: the rebuild
    # writes every municipality's rows, as the service does
    conn = await asyncpg.connect(
        dsn, server_settings={"search_path": fresh, SCOPE_SETTING: EVERYTHING}
    )
    try:
        replayer = _Replayer(conn, group, report, progress, batch)
        with _few_collections():
            for topic, apply in topics.consumed():
                await replayer.replay(settings.kafka_bootstrap, topic, apply)
    finally:
        await conn.close()
    await _swap(dsn, schema, fresh)
    return report


@contextmanager
def _few_collections() -> Iterator[None]:
    """Python's cyclic garbage collector, as tuned for a rebuild: what is alive before it
    (modules, schemas: most of the heap) frozen out of the collections, and a collection after
    every 100,000 allocations instead of 700. Every event makes a few dozen objects that live
    for a batch and go by reference counting, yet with the defaults the collector traversed
    the whole heap again and again: half of the rebuild's CPU time (bench/metrics_rebuild.py,
    536,000 events: 40 s of user time with the defaults, 22 s with these settings, 19 s with
    no collection at all)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _group_has_members(bootstrap: str, group: str) -> bool:
    admin = make_admin(bootstrap, client_id="metrics-rebuild")
    await admin.start()
    try:
        for _ in range(20):
            try:
                described = await admin.describe_consumer_groups([group])
                break
            except GroupCoordinatorNotAvailableError:  # no group ever: coordinator starting
                await asyncio.sleep(0.5)
        else:
            return False
        groups = described[0].to_object()["groups"]
        return any(g["members"] for g in groups)
    finally:
        await admin.close()


@dataclass
class _Replayer:
    conn: asyncpg.Connection
    group: str
    report: RebuildReport
    progress: Progress | None
    batch: int

    async def replay(self, bootstrap: str, topic: Topic, apply: Apply) -> None:
        model: type[Envelope[Any]] = Envelope[topic.value]  # type: ignore[name-defined]
        for counts in (self.report.events, self.report.duplicates, self.report.invalid):
            counts[topic.name] = 0
        reader = make_reader(bootstrap)
        await reader.start()
        try:
            numbers = await topic_partitions(bootstrap, topic.name, client_id="metrics-rebuild")
            tps = [TopicPartition(topic.name, p) for p in numbers]
            starts = await reader.beginning_offsets(tps)
            ends = await reader.end_offsets(tps)
            total = sum(ends[tp] - starts[tp] for tp in tps)
            done = 0
            self._tell(topic.name, 0, total)
            pending = [tp for tp in tps if ends[tp] > starts[tp]]
            if not pending:
                return
            reader.assign(pending)
            for tp in pending:
                reader.seek(tp, starts[tp])
            while pending:
                fetched = await reader.getmany(*pending, timeout_ms=1000, max_records=self.batch)
                records = [r for tp, rs in fetched.items() for r in rs if r.offset < ends[tp]]
                await self._write(self._decode(records, model, topic), apply, topic)
                done += len(records)
                self._tell(topic.name, done, total)
                pending = [tp for tp in pending if await reader.position(tp) < ends[tp]]
        finally:
            await reader.stop()

    def _tell(self, topic: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(topic, done, total)

    def _decode(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        model: type[Envelope[Any]],
        topic: Topic,
    ) -> list[tuple[Envelope[Any], ConsumerRecord[bytes, bytes]]]:
        """The events that validate (the others counted invalid: the live consumer dead-letters
        them)."""
        events: list[tuple[Envelope[Any], ConsumerRecord[bytes, bytes]]] = []
        for record in records:
            try:
                events.append((model.model_validate_json(record.value or b""), record))
            except ValidationError:
                self.report.invalid[topic.name] += 1
        return events

    async def _write(
        self,
        events: list[tuple[Envelope[Any], ConsumerRecord[bytes, bytes]]],
        apply: Apply,
        topic: Topic,
    ) -> None:
        """One transaction per fetched batch: the inbox rows of its events in one statement (the
        ids it had not seen come back), then the new events through the topic's batch write, as
        the live consumer does."""
        if not events:
            return
        async with self.conn.transaction():
            rows = await self.conn.fetch(
                'INSERT INTO inbox (consumer, event_id, topic, partition, "offset")'
                " SELECT $1, e, t, p, o"
                " FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS u(e, t, p, o)"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                self.group,
                [event.event_id for event, _ in events],
                [record.topic for _, record in events],
                [record.partition for _, record in events],
                [record.offset for _, record in events],
            )
            new = {row["event_id"] for row in rows}
            fresh: list[Envelope[Any]] = []
            for event, _ in events:
                if event.event_id not in new:  # read before, or twice in this batch
                    self.report.duplicates[topic.name] += 1
                    continue
                new.discard(event.event_id)
                fresh.append(event)
            if fresh:
                await apply(self.conn, fresh)
            self.report.events[topic.name] += len(fresh)


async def _swap(dsn: str, schema: str, fresh: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            exists = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
            )
            if exists:
                await conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_replaced"')
            await conn.execute(f'ALTER SCHEMA "{fresh}" RENAME TO "{schema}"')
            if exists:
                await conn.execute(f'DROP SCHEMA "{schema}_replaced" CASCADE')
    finally:
        await conn.close()
