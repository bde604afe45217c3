"""Why an event failed, and what the spine does about it.

Three classes, because each needs a different answer:

- **own fault** (the message itself: undecodable, invalid, refused with `PermanentError`): retrying
  cannot help, so it goes to the dead-letter topic at once and its sender is told;
- **dependency** (PostgreSQL or Kafka unreachable, a dropped connection, a timeout, pool or
  connection exhaustion, a serialization failure, a deadlock): nothing is wrong with the event, so
  it is never dead-lettered; the stage pauses its partitions, probes with a capped back-off, and
  resumes by itself when the dependency answers;
- **unknown** (anything else, e.g. a bug): a few retries, then the dead-letter topic, unless
  several different events fail the same way in a row; that is systemic (a bad release, a broken
  configuration) and the stage pauses instead of parking every event that follows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from enum import StrEnum

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from pydantic import ValidationError


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed: dead-lettered without retries.

    The message must name the reason without personal data (it becomes a Kafka header).
    """


class InvalidMessageError(ValueError):
    """A decoder's verdict: this message can never be handled (dead-lettered without retries)."""

    dead_letter_value: bytes | None = None
    """What the dead-letter topic keeps instead of the message's value, when that must not be
    kept as it came (e.g. a refused plaintext partner event, kept encrypted)."""


class Failure(StrEnum):
    OWN_FAULT = "own_fault"
    DEPENDENCY = "dependency"
    UNKNOWN = "unknown"


class PauseReason(StrEnum):
    """Why a stage holds its partitions (the `reason` label of `signaalpunt_consumer_paused`)."""

    DEPENDENCY = "dependency"
    SYSTEMIC = "systemic"


OWN_FAULT: tuple[type[BaseException], ...] = (ValidationError, InvalidMessageError, PermanentError)

DEPENDENCY: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, an unresolvable host, …
    TimeoutError,  # asyncio's timeouts (a query, a pool acquire, a publish)
    asyncpg.InterfaceError,  # "connection is closed", a pool that is closing
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # 57P01-57P03: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53xxx: too many connections, out of memory
    asyncpg.exceptions.SerializationError,  # 40001: retry the transaction
    asyncpg.exceptions.DeadlockDetectedError,  # 40P01: retry the transaction
    asyncpg.exceptions.LockNotAvailableError,  # 55P03
    KafkaConnectionError,
    KafkaTimeoutError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it (a handler may wrap a dropped connection in its own error)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(error: BaseException) -> Failure:
    if isinstance(error, OWN_FAULT):
        return Failure.OWN_FAULT
    for cause in _chain(error):
        if isinstance(cause, DEPENDENCY):
            return Failure.DEPENDENCY
        if isinstance(cause, KafkaError) and cause.retriable:
            return Failure.DEPENDENCY
    return Failure.UNKNOWN


def error_name(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"


class Backoff:
    """Capped exponential back-off with jitter: initial, 2×initial, … up to `cap` seconds."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial = initial
        self._cap = cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        # jitter: many replicas probing one database must not do it in step
        return float(min(self._cap, delay * random.uniform(0.8, 1.2)))

    def reset(self) -> None:
        self._next = self._initial
