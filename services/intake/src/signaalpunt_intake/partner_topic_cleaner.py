"""What intake has taken from partner.signals.v1 is deleted from the topic (Kafka DeleteRecords).

A partner's event is handled once its offset is committed: stored as a signal (sealed) or
refused and parked in the dead-letter topic (a plaintext value only encrypted to intake's key).
The copy on the partners' topic is then no longer needed by anyone (intake is its only reader),
so the records below intake's committed offsets are deleted every `interval` seconds: a partner
that sends plaintext by mistake has it readable on the topic until intake took it plus a few
seconds, not for the topic's retention of a day. The broker frees the disk space when the
segment rolls (the topic's `segment.ms`) and its retention check runs.

Intake's principal needs `DELETE` on the topic (docs/partners.md, ACLs).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError
from signaalpunt_runtime.broker_factory import make_admin
from signaalpunt_runtime.kafka_security import KafkaSecurity
from signaalpunt_runtime.logs import get_logger

log = get_logger(__name__)


class TakenRecordsCleaner:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        interval: float,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._topic = topic
        self._group = group
        self._interval = interval
        self._deleted: dict[TopicPartition, int] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._every_interval(), name="partner-topic-cleaner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._admin is not None:
            await self._admin.close()

    async def delete_taken(self) -> dict[TopicPartition, int]:
        """Delete every record below the group's committed offset; returns what moved."""
        if self._admin is None:
            # built on first use: aiokafka clients need the running event loop, and a broker
            # that is away at start-up must not keep intake from starting
            admin = make_admin(
                self._bootstrap, client_id="intake-partner-topic-cleaner", security=self._security
            )
            await admin.start()
            self._admin = admin
        committed = await self._admin.list_consumer_group_offsets(self._group)
        todo = {
            tp: meta.offset
            for tp, meta in committed.items()
            if tp.topic == self._topic and meta.offset > self._deleted.get(tp, 0)
        }
        if todo:
            await self._admin.delete_records(
                {tp: RecordsToDelete(before_offset=offset) for tp, offset in todo.items()},
                timeout_ms=10_000,
            )
            self._deleted.update(todo)
        return todo

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.delete_taken()
            except (TimeoutError, KafkaError, OSError) as exc:
                # the broker is away (or a rebalance): the records wait for the next round
                log.warning("taken partner events not deleted yet", error=type(exc).__name__)
