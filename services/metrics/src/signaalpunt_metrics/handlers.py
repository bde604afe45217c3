"""Which topic feeds which read model. The live consumers and the rebuild share this table, so
both write exactly the same rows for the same events: a batch of a topic's new events at a time,
with one statement per table (repository's `record_*_batch`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from signaalpunt_contracts import (
    CASE_STEPS,
    MATCHES,
    NOTIFICATIONS,
    PARTNER_REJECTIONS,
    REFERRAL_GAPS,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    Envelope,
    Topic,
)
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.database import DbConnection

from . import repository as repo

Apply = Callable[[DbConnection, Sequence[Envelope[Any]]], Awaitable[None]]
"""Writes a batch of a topic's new events (in the topic's order) into the read models."""


@dataclass(frozen=True)
class MetricsTopics:
    """The topics the metrics service reads (tests pass private copies)."""

    received: Topic = SIGNALS_RECEIVED
    rejections: Topic = PARTNER_REJECTIONS
    triaged: Topic = SIGNALS_TRIAGED
    acute_alerts: Topic = SIGNALS_ACUTE_ALERTS
    possible_acute_alerts: Topic = SIGNALS_POSSIBLE_ACUTE_ALERTS
    reviews_missed: Topic = SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED
    deadline_missed: Topic = SIGNALS_DEADLINE_MISSED
    steps: Topic = CASE_STEPS
    notifications: Topic = NOTIFICATIONS
    referrals: Topic = REFERRALS
    gaps: Topic = REFERRAL_GAPS
    matches: Topic = MATCHES
    erased: Topic = SIGNALS_ERASED

    def consumed(self) -> list[tuple[Topic, Apply]]:
        return [
            (self.received, repo.record_received_batch),
            (self.rejections, repo.record_rejection_batch),
            (self.triaged, repo.record_triaged_batch),
            (self.acute_alerts, repo.record_acute_alert_batch),
            (self.possible_acute_alerts, repo.record_possible_acute_alert_batch),
            (self.reviews_missed, repo.record_review_missed_batch),
            (self.deadline_missed, repo.record_deadline_missed_batch),
            (self.steps, repo.record_step_batch),
            (self.notifications, repo.record_notification_batch),
            (self.referrals, repo.record_referral_batch),
            (self.gaps, repo.record_gap_batch),
            (self.matches, repo.record_match_batch),
            # last: a rebuild applies the erasures after everything they erase
            (self.erased, repo.record_erasure_batch),
        ]


def register(service: Service, topics: MetricsTopics, *, batch_size: int) -> None:
    """Each topic in batches of up to `batch_size` events, handed over as a list of the new ones
    (the inbox drops redeliveries first); a failed batch is retried one event at a time."""
    for topic, apply in topics.consumed():
        service.consumer(topic, batch_size=batch_size, as_list=True)(_handler(apply))


def _handler(apply: Apply) -> Callable[[list[Envelope[Any]], UnitOfWork], Awaitable[None]]:
    async def handle(events: list[Envelope[Any]], work: UnitOfWork) -> None:
        await apply(work.connection, events)

    handle.__name__ = f"on_{apply.__name__.removeprefix('record_').removesuffix('_batch')}"
    return handle
