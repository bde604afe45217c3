"""Signed webhooks to organisations whose referral channel is `webhook` (Standard Webhooks).

A referral sent to such an organisation (or withdrawn after it was sent) queues a delivery in
the referral's own transaction; this sender claims due deliveries (leased, `FOR UPDATE SKIP
LOCKED`, so replicas share the work), builds the body then — the person's words opened from
the seal at that moment, never kept in the clear — signs it with the organisation's own secret
and POSTs it. A refused or unreachable endpoint is tried again later with a growing pause, with
the same `webhook-id` so the organisation can drop a repeat; after the last attempt the delivery
is given up (the referral's response deadline still escalates it to the coordinator). Every
delivery has its own timeout and all due ones go out at once: one organisation's slow endpoint
never holds up another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import AccessEntry, ActorKind, Operation, Outcome, Purpose
from signaalpunt_runtime.failure_log import FailureLog
from signaalpunt_runtime.logs import get_logger
from standardwebhooks.webhooks import Webhook

from . import repository as repo
from .disclosure import disclose
from .handlers import Referrals

log = get_logger(__name__)

SENT = "referral.sent"
GONE = "the referral is gone"
LEASE = timedelta(minutes=2)
"""How long a claimed delivery is this sender's; longer than one attempt's timeout."""


@dataclass(frozen=True)
class Outgoing:
    body: dict[str, Any]
    disclosed: AccessEntry | None = None
    """The access-log entry of the person's data in the body (None: ids only)."""


async def body_of(ctx: Referrals, d: repo.WebhookDelivery, at: datetime) -> Outgoing | None:
    """What the organisation is told: only what it needs to help (the person consented to the
    referral); a withdrawal carries ids only (it may be the person's erasure: the referral is
    gone by then). None when a referral to send is gone (erased before it went out)."""
    disclosed = None
    data: dict[str, Any] = {
        "referral_id": str(d.referral_id),
        "version": d.version,
        "status": "sent" if d.event == SENT else "withdrawn",
        "service_id": str(d.service_id),
        "service_name": d.service_name,
        "answer_at": f"/v1/referral/callbacks/{d.organisation_id}",
    }
    if d.event == SENT:
        async with ctx.service.pool.acquire() as conn:
            r = await repo.get_referral(conn, d.referral_id)
            stored = await repo.get_help_question(conn, r.signal_id) if r else None
        if r is None or stored is None:
            return None
        q = stored.question
        shown = await disclose(ctx.vault, stored)
        data |= {
            "needs": [n.value for n in r.needs] or [n.value for n in q.needs],
            "languages": list(q.languages),
            "mobility": q.mobility.value,
            "age": q.age,
            "question": shown.words,
            "contact": shown.contact or None,
            "respond_by": r.respond_by.isoformat() if r.respond_by else None,
        }
        # sent to the organisation's own system: logged as a disclosure to it
        disclosed = AccessEntry.by(
            f"urn:signaalpunt:organisation:{d.organisation_id}",
            ActorKind.PARTNER,  # as its inbox token is: the organisation received it
            activity="referral.webhook",
            operation=Operation.READ,
            municipality=stored.municipality,
            signal_id=r.signal_id,
            subject_id=stored.subject_id,
            categories=shown.categories,
            purpose=Purpose.SIGNAL_HANDLING,
            outcome=Outcome.ERASED if shown.erased else Outcome.OK,
        )
    return Outgoing({"type": d.event, "timestamp": at.isoformat(), "data": data}, disclosed)


@dataclass
class WebhookSender:
    ctx: Referrals
    interval: float = 2.0
    timeout: float = 5.0
    """Seconds an organisation's endpoint has to answer (read and write)."""
    connect_timeout: float = 5.0
    """Seconds to open the connection: apart from `timeout`, so a slow answer and an endpoint
    that cannot be reached are told apart (`last_error`)."""
    max_attempts: int = 10
    retry_base: float = 10.0
    """Seconds before the second attempt; doubled after each failure, at most an hour."""
    batch: int = 50
    transport: httpx.AsyncBaseTransport | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _client: httpx.AsyncClient | None = field(default=None, init=False)

    async def open(self) -> None:
        """The HTTP client only (a test drives `deliver_due` itself)."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            follow_redirects=False,
            transport=self.transport,
        )

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client:
            await self._client.aclose()

    async def _run(self) -> None:
        failures = FailureLog("referral webhook rounds")
        while True:
            try:
                await self.deliver_due()
            except Exception as exc:  # a database that is down: try again next round
                failures.failed(exc)  # one line while it lasts, not one per round
            else:
                failures.worked()
            await asyncio.sleep(self.interval)

    async def deliver_due(self) -> int:
        now = self.ctx.clock()
        async with self.ctx.service.transaction() as work:
            claimed = await repo.claim_webhooks(work.connection, now, now + LEASE, self.batch)
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    async def _deliver(self, d: repo.WebhookDelivery) -> None:
        now = self.ctx.clock()
        error, disclosed = await self._attempt(d, now)
        async with self.ctx.service.transaction() as work:
            if disclosed is not None:  # sent (answered or not): the data left for its system
                await access_log.record(work.connection, [disclosed])
            if error is None:
                await repo.webhook_delivered(work.connection, d, now)
                self.ctx.metrics.webhooks.labels("delivered").inc()
                return
            last = d.attempts + 1 >= self.max_attempts or error == GONE
            pause = min(self.retry_base * 2**d.attempts, 3600.0)
            await repo.webhook_failed(
                work.connection,
                d,
                error,
                retry_at=None if last else now + timedelta(seconds=pause),
                at=now,
            )
        self.ctx.metrics.webhooks.labels("given_up" if last else "retry").inc()
        log.warning(
            "referral webhook not delivered",
            referral_id=str(d.referral_id),
            organisation_id=str(d.organisation_id),
            attempt=d.attempts + 1,
            error=error,
            given_up=last,
        )

    async def _attempt(
        self, d: repo.WebhookDelivery, now: datetime
    ) -> tuple[str | None, AccessEntry | None]:
        """None when delivered, else why not (a status code or an error class, never a body);
        and the access-log entry of the person's data it sent, if any."""
        if not d.url or not d.secret:
            return "the organisation has no webhook address or secret", None
        outgoing = await body_of(self.ctx, d, now)
        if outgoing is None:
            return GONE, None
        payload = json.dumps(outgoing.body, separators=(",", ":"))
        message_id = f"msg_{d.referral_id}_{d.version}"  # the same on every retry
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(d.secret).sign(message_id, now, payload),
        }
        assert self._client is not None, "start() first"
        try:
            answer = await self._client.post(d.url, content=payload, headers=headers)
        except httpx.ConnectError as exc:  # never connected: nothing left
            return type(exc).__name__, None
        except httpx.HTTPError as exc:
            return type(exc).__name__, outgoing.disclosed
        if answer.is_success:
            return None, outgoing.disclosed
        return f"HTTP {answer.status_code}", outgoing.disclosed
