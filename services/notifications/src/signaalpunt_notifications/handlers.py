"""Thin consumers: remember the signal's facts, ask the rules, write the deliveries.

All of it happens in the consumer's transaction, with the inbox row: a redelivered event has no
second effect (inbox), and a message decided twice by different events is one row (dedupe key).
Nothing is sent here; the sender picks the rows up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from signaalpunt_contracts import Envelope, ErasureScope, SignalErasedV1, Topic
from signaalpunt_runtime import PermanentError, Service, UnitOfWork
from signaalpunt_runtime.consumer import Handler
from signaalpunt_runtime.logs import get_logger

from . import repository
from .domain import Directory, RuleBook, RuleContext, UnknownMunicipalityError
from .rules import advance_facts
from .sender import Clock

log = get_logger(__name__)


def register_consumers(
    service: Service,
    topics: Sequence[Topic],
    rules: RuleBook,
    directory: Directory,
    clock: Clock,
    *,
    batch_size: int = 1,
) -> None:
    """With `batch_size` > 1 up to that many events are planned in one transaction: under a burst
    (a partner's backfill, a replay) the commit per event was most of the stage's cost. An event
    refused for its own fault sends its batch down the one-by-one path (the spine's batch mode)."""
    batch = batch_size if batch_size > 1 else None
    for topic in topics:
        if topic.value is SignalErasedV1:
            service.consumer(topic)(_erasure_handler(clock))
        else:
            service.consumer(topic, batch_size=batch)(_handler(topic, rules, directory, clock))


def _erasure_handler(clock: Clock) -> Handler:
    async def handle(event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
        erased = event.data
        cancelled = await repository.erase_signal(
            work.connection,
            erased.signal_id,
            event.municipality,
            person=erased.scope is ErasureScope.PERSON,
            now=clock(),
        )
        log.info(
            "signal erased",
            signal_id=str(erased.signal_id),
            scope=erased.scope.value,
            cancelled=cancelled,
        )

    return handle


def _kafka_key(event: Envelope[Any]) -> str:
    data = event.data
    for name in ("signal_id", "partner", "notification_id"):
        if (value := getattr(data, name, None)) is not None:
            return str(value)
    return str(event.event_id)


def _handler(topic: Topic, rules: RuleBook, directory: Directory, clock: Clock) -> Handler:
    async def handle(event: Envelope[Any], work: UnitOfWork) -> None:
        try:
            municipality = directory.municipality(event.municipality)
        except UnknownMunicipalityError:
            # a configuration gap, not a passing fault: park it; replay after adding the config
            raise PermanentError(
                f"no notification configuration for municipality {event.municipality}"
            ) from None
        previous = facts = None
        signal_id = getattr(event.data, "signal_id", None)
        if signal_id is not None:
            previous = await repository.load_facts(work.connection, signal_id, event.municipality)
            facts = advance_facts(previous, event, municipality.language)
            if facts is not None and facts != previous:
                await repository.save_facts(work.connection, facts)
        messages = rules.plan(event, RuleContext(directory, facts=facts, previous=previous))
        new = 0
        if messages:
            await repository.keep_reason(work.connection, event, topic.name, _kafka_key(event))
            new = await repository.record_deliveries(work.connection, event, messages, due=clock())
        # per event (most plan nothing): a debug line; what is sent is logged by the sender
        log.debug(
            "notifications planned",
            event_id=str(event.event_id),
            event_type=event.type,
            planned=len(messages),
            new=new,
        )

    return handle
