"""Dead-letter topics: where a consumer group parks the events it could not handle.

A dead letter keeps the original key, value and headers and adds `dlq-*` headers: the error class
and message, the number of attempts, the original topic/partition/offset, the consumer group, the
service and the time. Error messages must not carry personal data: validation errors are reduced to
field locations and error types, never the input.

`list_dead_letters` shows what is parked; `replay` sends each parked event back to its original
topic once (the replay position is committed per dead-letter topic), where every consumer group's
inbox ignores what it already handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from .broker_factory import make_producer, make_reader

PREFIX = "dlq-"
ERROR_CLASS = "dlq-error-class"
ERROR_MESSAGE = "dlq-error-message"
ATTEMPTS = "dlq-attempts"
ORIGINAL_TOPIC = "dlq-original-topic"
ORIGINAL_PARTITION = "dlq-original-partition"
ORIGINAL_OFFSET = "dlq-original-offset"
CONSUMER_GROUP = "dlq-consumer-group"
SERVICE = "dlq-service"
FAILED_AT = "dlq-failed-at"
REPLAYED_FROM = "dlq-replayed-from"

MAX_MESSAGE = 1000


def describe_error(error: BaseException) -> str:
    """A reason fit for a header: for validation errors the fields and error types, no input."""
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False, include_context=False)
        ]
        text = f"{error.error_count()} validation error(s): " + "; ".join(parts)
    else:
        text = str(error) or type(error).__name__
    return text[:MAX_MESSAGE]


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes],
    error: BaseException,
    *,
    attempts: int,
    group: str,
    service: str,
) -> dict[str, str]:
    kept = {
        k: v.decode(errors="replace") for k, v in (record.headers or ()) if not k.startswith(PREFIX)
    }
    return {
        **kept,
        ERROR_CLASS: f"{type(error).__module__}.{type(error).__qualname__}",
        ERROR_MESSAGE: describe_error(error),
        ATTEMPTS: str(attempts),
        ORIGINAL_TOPIC: record.topic,
        ORIGINAL_PARTITION: str(record.partition),
        ORIGINAL_OFFSET: str(record.offset),
        CONSUMER_GROUP: group,
        SERVICE: service,
        FAILED_AT: datetime.now(UTC).isoformat(),
    }


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers[ORIGINAL_TOPIC]

    @property
    def error(self) -> str:
        return f"{self.headers.get(ERROR_CLASS, '?')}: {self.headers.get(ERROR_MESSAGE, '')}"

    def replay_headers(self) -> list[tuple[str, bytes]]:
        kept = [(k, v.encode()) for k, v in self.headers.items() if not k.startswith(PREFIX)]
        return [*kept, (REPLAYED_FROM, f"{self.topic}:{self.partition}:{self.offset}".encode())]


def _to_dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in (record.headers or ())},
    )


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="signaalpunt-tools")
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic} does not exist")
    return sorted(p["partition"] for p in described["partitions"])


def replay_group(dead_letter_topic: str) -> str:
    return f"signaalpunt-dlq-replay.{dead_letter_topic}"


async def _read(
    bootstrap: str, topic: str, *, group: str | None, limit: int | None
) -> tuple[list[DeadLetter], dict[TopicPartition, int], Any]:
    """Read from the group's committed position (or the beginning) up to the end as it is now."""
    partitions = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
    reader = make_reader(bootstrap, group=group)
    await reader.start()
    reader.assign(partitions)
    ends = await reader.end_offsets(partitions)
    for tp in partitions:
        committed = await reader.committed(tp) if group else None
        if committed is None:
            await reader.seek_to_beginning(tp)
        else:
            reader.seek(tp, committed)
    letters: list[DeadLetter] = []
    positions: dict[TopicPartition, int] = {}
    remaining = {tp for tp in partitions if await reader.position(tp) < ends[tp]}
    while remaining and (limit is None or len(letters) < limit):
        batch = await reader.getmany(*remaining, timeout_ms=5000)
        if not batch:
            break
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp] or (limit is not None and len(letters) >= limit):
                    break
                letters.append(_to_dead_letter(record))
                positions[tp] = record.offset + 1
            if positions.get(tp, 0) >= ends[tp]:
                remaining.discard(tp)
    return letters, positions, reader


async def list_dead_letters(
    bootstrap: str, topic: str, *, limit: int | None = None
) -> list[DeadLetter]:
    letters, _, reader = await _read(bootstrap, topic, group=None, limit=limit)
    await reader.stop()
    return letters


async def replay(
    bootstrap: str, topic: str, *, limit: int | None = None, dry_run: bool = False
) -> list[DeadLetter]:
    """Send parked events back to their original topics, each once; returns what was replayed."""
    letters, positions, reader = await _read(
        bootstrap, topic, group=replay_group(topic), limit=limit
    )
    try:
        if dry_run or not letters:
            return letters
        producer = make_producer(bootstrap, client_id="signaalpunt-dlq-replay")
        await producer.start()
        try:
            for letter in letters:
                await producer.send_and_wait(
                    letter.original_topic,
                    value=letter.value,
                    key=letter.key,
                    headers=letter.replay_headers(),
                )
        finally:
            await producer.stop()
        # only after every replayed event is acknowledged: a crash before this replays again,
        # which the consumers' inboxes absorb
        await reader.commit(positions)
        return letters
    finally:
        await reader.stop()
