"""Which topic feeds which read model. The live consumers and the rebuild share this table, so
both write exactly the same rows for the same events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

Apply = Callable[[DbConnection, Envelope[Any]], Awaitable[None]]


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
            (self.received, repo.record_received),
            (self.rejections, repo.record_rejection),
            (self.triaged, repo.record_triaged),
            (self.acute_alerts, repo.record_acute_alert),
            (self.possible_acute_alerts, repo.record_possible_acute_alert),
            (self.reviews_missed, repo.record_review_missed),
            (self.deadline_missed, repo.record_deadline_missed),
            (self.steps, repo.record_step),
            (self.notifications, repo.record_notification),
            (self.referrals, repo.record_referral),
            (self.gaps, repo.record_gap),
            (self.matches, repo.record_match),
            # last: a rebuild applies the erasures after everything they erase
            (self.erased, repo.record_erasure),
        ]


def register(service: Service, topics: MetricsTopics, *, batch_size: int) -> None:
    for topic, apply in topics.consumed():
        service.consumer(topic, batch_size=batch_size)(_handler(apply))


def _handler(apply: Apply) -> Callable[[Envelope[Any], UnitOfWork], Awaitable[None]]:
    async def handle(event: Envelope[Any], work: UnitOfWork) -> None:
        await apply(work.connection, event)

    handle.__name__ = f"on_{apply.__name__.removeprefix('record_')}"
    return handle
