"""Offset commits for a consumer stage: in the background, and never past an unhandled message.

Committing after every message costs a round trip to the group coordinator each time (measured on
the local Kafka 4.1 broker: 170 commits/s, ~6 ms each, against 2,000 produce round trips/s). The
inbox already makes a second delivery harmless, so the stage commits the offsets of *handled*
messages (explicit offsets, never the consumer's prefetch position) every `interval` seconds, after
`max_pending` messages, when partitions are revoked, and at shutdown. A crash loses no event: it
only redelivers those handled since the last commit, and the inbox ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from .logs import get_logger

log = get_logger(__name__)


class OffsetCommitter:
    def __init__(self, *, group: str, interval: float, max_pending: int) -> None:
        self._group = group
        self._interval = interval
        self._max_pending = max_pending
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None

    async def handled(
        self, consumer: AIOKafkaConsumer, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        """Record that `record` is handled (its transaction committed or it was dead-lettered)."""
        self._consumer = consumer
        self._pending[TopicPartition(record.topic, record.partition)] = record.offset + 1
        self._count += 1
        if self._task is None:
            self._task = asyncio.create_task(self._every_interval(), name=f"commit-{self._group}")
        if self._count >= self._max_pending:
            await self.commit()

    async def commit(self) -> None:
        if not self._pending or self._consumer is None:
            return
        offsets, self._pending, self._count = self._pending, {}, 0
        try:
            await self._consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:
            # e.g. a rebalance took the partition: its new owner starts from the last commit,
            # and the inbox ignores the events this replica already handled
            log.warning(
                "offset commit failed; handled events will be redelivered and ignored",
                group=self._group,
                error=type(exc).__name__,
            )

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.commit()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.commit()


class CommitOnRevoke(ConsumerRebalanceListener):
    """Before partitions move to another replica, commit what this one handled on them."""

    def __init__(self, committer: OffsetCommitter) -> None:
        self._committer = committer
        self.assigned: frozenset[TopicPartition] = frozenset()
        """The partitions this consumer holds now (for /readyz; empty during a rebalance)."""

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.assigned = self.assigned - set(revoked)
        await self._committer.commit()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assigned = self.assigned | set(assigned)
