"""Thin consumers: remember the signal's facts, ask the rules, write the deliveries.

All of it happens in the consumer's transaction, with the inbox row: a redelivered event has no
second effect (inbox), and a message decided twice by different events is one row (dedupe key).
Nothing is sent here; the sender picks the rows up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from signaalpunt_contracts import Envelope, ErasureScope, SignalErasedV1, Topic
from signaalpunt_contracts.triage import AcuteSignalAlertV1, PossibleAcuteAlertV1
from signaalpunt_runtime import PermanentError, Service, UnitOfWork
from signaalpunt_runtime.consumer import Handler
from signaalpunt_runtime.logs import get_logger

from . import repository
from .domain import (
    Directory,
    Message,
    RuleBook,
    RuleContext,
    SignalFacts,
    UnknownMunicipalityError,
)
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
    """With `batch_size` > 1 up to that many events are planned in one transaction, with one
    statement per table for the batch (the facts locked, then saved; the reasons; the
    deliveries): under a burst (a partner's backfill, a replay) the statements per event were
    most of the stage's cost. An event refused for its own fault sends its batch down the
    one-by-one path (the spine's batch mode), where each event is a list of one."""
    for topic in topics:
        if topic.value is SignalErasedV1:
            service.consumer(topic)(_erasure_handler(clock))
            continue
        plan = _planner(topic, rules, directory, clock)
        if batch_size > 1:
            # an acute or possibly acute alert is planned the moment it is there (the acute
            # lane); the rest may gather into batches for a moment
            urgent = topic.value in (AcuteSignalAlertV1, PossibleAcuteAlertV1)
            service.consumer(topic, batch_size=batch_size, as_list=True, urgent=urgent)(plan)
        else:
            service.consumer(topic)(_one_at_a_time(plan))


def _one_at_a_time(plan: Handler) -> Handler:
    async def handle(event: Envelope[Any], work: UnitOfWork) -> None:
        await plan([event], work)

    return handle


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


def _planner(topic: Topic, rules: RuleBook, directory: Directory, clock: Clock) -> Handler:
    async def handle(events: list[Envelope[Any]], work: UnitOfWork) -> None:
        signals: dict[UUID, str] = {}
        for event in events:
            if (signal_id := getattr(event.data, "signal_id", None)) is not None:
                signals.setdefault(signal_id, event.municipality)
        known = await repository.lock_facts(work.connection, signals) if signals else {}
        changed: dict[UUID, SignalFacts] = {}
        planned: list[repository.Planned] = []
        for event in events:  # in order: a signal's facts move on event by event
            with work.traced(event):
                messages = _plan(event, rules, directory, known, changed)
                if messages:
                    planned.append(
                        repository.Planned(
                            event,
                            topic.name,
                            _kafka_key(event),
                            messages,
                            repository.current_trace_context(),
                        )
                    )
        await repository.save_all_facts(work.connection, list(changed.values()))
        await repository.keep_reasons(work.connection, planned)
        new = await repository.record_deliveries(work.connection, planned, due=clock())
        # per batch (most events plan nothing): a debug line; what is sent is logged by the sender
        log.debug(
            "notifications planned",
            events=len(events),
            planned=sum(len(p.messages) for p in planned),
            new=new,
        )

    return handle


def _plan(
    event: Envelope[Any],
    rules: RuleBook,
    directory: Directory,
    known: dict[UUID, SignalFacts | None],
    changed: dict[UUID, SignalFacts],
) -> list[Message]:
    """The messages one event plans; its signal's facts (`known`) moved on by the event."""
    try:
        municipality = directory.municipality(event.municipality)
    except UnknownMunicipalityError:
        # a configuration gap, not a passing fault: park it; replay after adding the config
        raise PermanentError(
            f"no notification configuration for municipality {event.municipality}"
        ) from None
    previous = facts = None
    if (signal_id := getattr(event.data, "signal_id", None)) is not None:
        previous = known.get(signal_id)
        facts = advance_facts(previous, event, municipality.language)
        if facts is not None and facts != previous:
            known[signal_id] = changed[signal_id] = facts
    return rules.plan(event, RuleContext(directory, facts=facts, previous=previous))
