"""Dead-letter topics: where a consumer group parks the events it could not handle.

A dead letter keeps the original key, value and headers and adds `dlq-*` headers: the error class
and message, the number of attempts, the original topic/partition/offset, the consumer group, the
service and the time. Error messages must not carry personal data: validation errors are reduced to
field locations and error types, never the input.

`list_dead_letters` shows what is parked; `replay` sends parked events back to their original
topic for the group that parked them only: the copy carries `signaalpunt-replay-for: <group>`,
which every other consumer group on the topic skips. Without a selection, replay continues where
the previous one stopped (its position is committed per dead-letter topic); with a `Selection`
(offsets, event ids, error class, time window) it replays just the matching entries. A copy keeps
its provenance (`signaalpunt-first-*`: where the event was first consumed; `-replay-of`: the entry
it came from; `-replay-count`) and the Kafka timestamp of the original, so a replayed event keeps
the time it first arrived; should it be parked again, the new dead letter shows all of that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from .broker_factory import make_admin, make_producer, make_reader
from .topic_admin import topic_partitions

if TYPE_CHECKING:
    from signaalpunt_contracts import Topic

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
ORIGINAL_TIMESTAMP = "dlq-original-timestamp"
VALUE = "dlq-value"
SEALED = "sealed"
"""`dlq-value: sealed`: the entry keeps not the message but a sealed copy of it (a plaintext its
sender should not have sent, encrypted to the service's own key); it cannot be replayed."""

# on a replayed copy (kept when it is parked again: they do not start with `dlq-`)
REPLAY_FOR = "signaalpunt-replay-for"
REPLAY_OF = "signaalpunt-replay-of"
REPLAY_COUNT = "signaalpunt-replay-count"
FIRST_TOPIC = "signaalpunt-first-topic"
FIRST_PARTITION = "signaalpunt-first-partition"
FIRST_OFFSET = "signaalpunt-first-offset"
EVENT_ID_HEADERS = ("signaalpunt-event-id", "ce_id")

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
    sealed: bool = False,
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
        ORIGINAL_TIMESTAMP: str(record.timestamp),
        **({VALUE: SEALED} if sealed else {}),
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

    @property
    def event_ids(self) -> set[str]:
        return {self.headers[h] for h in EVENT_ID_HEADERS if h in self.headers}

    @property
    def failed_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.headers[FAILED_AT])
        except (KeyError, ValueError):
            return None

    @property
    def sealed(self) -> bool:
        return self.headers.get(VALUE) == SEALED

    @property
    def owning_group(self) -> str:
        return self.headers.get(CONSUMER_GROUP, "")

    def replay_headers(self) -> list[tuple[str, bytes]]:
        h = self.headers
        kept = {k: v for k, v in h.items() if not k.startswith(PREFIX)}
        kept |= {
            REPLAY_FOR: self.owning_group,
            REPLAY_OF: f"{self.topic}:{self.partition}:{self.offset}",
            REPLAY_COUNT: str(int(h.get(REPLAY_COUNT, "0") or 0) + 1),
            FIRST_TOPIC: h.get(FIRST_TOPIC, h.get(ORIGINAL_TOPIC, "")),
            FIRST_PARTITION: h.get(FIRST_PARTITION, h.get(ORIGINAL_PARTITION, "")),
            FIRST_OFFSET: h.get(FIRST_OFFSET, h.get(ORIGINAL_OFFSET, "")),
        }
        return [(k, v.encode()) for k, v in kept.items()]

    @property
    def original_timestamp(self) -> int | None:
        value = self.headers.get(ORIGINAL_TIMESTAMP, "")
        return int(value) if value.lstrip("-").isdigit() and int(value) > 0 else None


@dataclass(frozen=True)
class Selection:
    """Which parked entries to replay; every given criterion must hold."""

    partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    """inclusive"""
    event_ids: set[str] = field(default_factory=set)
    error_class: str | None = None
    """a part of the error class, e.g. `ValidationError` or `asyncpg`"""
    since: datetime | None = None
    until: datetime | None = None
    """when the entry was parked (`dlq-failed-at`)"""

    def matches(self, letter: DeadLetter) -> bool:
        failed_at = letter.failed_at
        return not (
            (self.partition is not None and letter.partition != self.partition)
            or (self.from_offset is not None and letter.offset < self.from_offset)
            or (self.to_offset is not None and letter.offset > self.to_offset)
            or (self.event_ids and not (self.event_ids & letter.event_ids))
            or (
                self.error_class is not None
                and self.error_class not in letter.headers.get(ERROR_CLASS, "")
            )
            or (self.since is not None and (failed_at is None or failed_at < self.since))
            or (self.until is not None and (failed_at is None or failed_at > self.until))
        )


def first_received_at(record: ConsumerRecord[bytes, bytes]) -> datetime | None:
    """For a copy replayed from a dead-letter topic, the time the original arrived (a replay
    keeps its Kafka timestamp), so a deadline that runs from receipt does not move; None for a
    first delivery (whose Kafka timestamp the sender's clock may have set)."""
    if not any(key == REPLAY_OF for key, _ in record.headers or ()) or record.timestamp <= 0:
        return None
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def _to_dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in (record.headers or ())},
    )


@dataclass(frozen=True)
class DeadLetterTopic:
    """One dead-letter topic of the registry and what it holds now."""

    topic: str
    group: str
    events: int | None
    """Events kept (end minus beginning over its partitions); None: the topic is not made yet."""
    end: int
    """The sum of its partitions' end offsets: it grows by one for every event parked."""


async def dead_letter_topics(bootstrap: str, topics: Iterable[Topic]) -> list[DeadLetterTopic]:
    """Every dead-letter topic of `topics` (e.g. the registry) with its counts. A topic that does
    not exist yet is reported as such: asking the broker for its offsets would wait for a
    time-out (aiokafka retries an unknown topic for 40 s) and then fail."""
    wanted = [(dlq, group) for topic in topics for group, dlq in topic.dead_letter_topics.items()]
    if not wanted:
        return []
    admin = make_admin(bootstrap, client_id="signaalpunt-tools")
    await admin.start()
    try:
        described = await admin.describe_topics([dlq for dlq, _ in wanted])
    finally:
        await admin.close()
    partitions = {
        d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
        for d in described
        if d["error_code"] == 0 and d["partitions"]
    }
    every = [tp for tps in partitions.values() for tp in tps]
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        ends = await reader.end_offsets(every) if every else {}
        starts = await reader.beginning_offsets(every) if every else {}
    finally:
        await reader.stop()
    rows = []
    for dlq, group in wanted:
        tps = partitions.get(dlq)
        if tps is None:
            rows.append(DeadLetterTopic(dlq, group, None, 0))
            continue
        end = sum(ends[tp] for tp in tps)
        rows.append(DeadLetterTopic(dlq, group, end - sum(starts[tp] for tp in tps), end))
    return rows


def replay_group(dead_letter_topic: str) -> str:
    return f"signaalpunt-dlq-replay.{dead_letter_topic}"


async def _read(
    bootstrap: str, topic: str, *, group: str | None, limit: int | None
) -> tuple[list[DeadLetter], dict[TopicPartition, int], Any]:
    """Read from the group's committed position (or the beginning) up to the end as it is now."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
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
    bootstrap: str,
    topic: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    select: Selection | None = None,
    not_replayable: list[DeadLetter] | None = None,
) -> list[DeadLetter]:
    """Send parked events back to their original topics, for their owning group only; returns
    what was (or, with `dry_run`, would be) replayed.

    Without `select`: everything parked since the previous replay, which moves the position on.
    With `select`: the matching entries of the whole dead-letter topic; the position stays.
    A sealed entry is never sent (its value is not the message: only its sender can send it
    again); it is added to `not_replayable`, and a replay without selection moves past it.
    """
    letters, positions, reader = await _read(
        bootstrap, topic, group=None if select else replay_group(topic), limit=None
    )
    try:
        if select is not None:
            letters = [letter for letter in letters if select.matches(letter)]
        if not_replayable is not None:
            not_replayable += [letter for letter in letters if letter.sealed]
        letters = [letter for letter in letters if not letter.sealed]
        if limit is not None:
            letters = letters[:limit]
            positions = {}
            for letter in letters:
                positions[TopicPartition(letter.topic, letter.partition)] = letter.offset + 1
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
                    # the time the event first arrived: a partner signal's deadline runs from it
                    timestamp_ms=letter.original_timestamp,
                )
        finally:
            await producer.stop()
        if select is None:
            # only after every replayed event is acknowledged: a crash before this replays
            # again, which the owning group's inbox absorbs
            await reader.commit(positions)
        return letters
    finally:
        await reader.stop()
