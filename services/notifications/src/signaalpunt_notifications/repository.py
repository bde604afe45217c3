"""SQL of the notifications service: signal facts, the delivery log, the reasons kept for DLQ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from signaalpunt_contracts import Envelope
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.outbox import TRACE_CONTEXT
from uuid_utils.compat import uuid7

from .domain import Message, SignalFacts

_UUID_FIELDS = {
    "signal_id",
    "subject_id",
    "reporter_id",
    "received_event_id",
    "first_triage_event_id",
    "closed_event_id",
}


def _facts_to_json(facts: SignalFacts) -> str:
    return json.dumps({k: str(v) if isinstance(v, UUID) else v for k, v in asdict(facts).items()})


def _facts_from_json(raw: str) -> SignalFacts | None:
    data = json.loads(raw)
    if data is None:
        return None
    known = {f.name for f in fields(SignalFacts)}
    values: dict[str, Any] = {
        k: (UUID(v) if k in _UUID_FIELDS and v is not None else v)
        for k, v in data.items()
        if k in known
    }
    return SignalFacts(**values)


async def lock_facts(
    conn: DbConnection, signals: dict[UUID, str]
) -> dict[UUID, SignalFacts | None]:
    """The facts of `signals` (id → the municipality of its first event here), locked for this
    transaction: events of one signal arrive on several topics and may be planned at the same
    time by different consumers. A signal not seen before gets an empty row to lock. In id
    order, the order every planner locks in, so two planners never wait for each other in a
    circle."""
    ids = sorted(signals, key=str)
    await conn.execute(
        "INSERT INTO signals (signal_id, municipality, facts)"
        " SELECT s, m, 'null'::jsonb FROM unnest($1::uuid[], $2::text[]) AS u(s, m)"
        " ON CONFLICT DO NOTHING",
        ids,
        [signals[i] for i in ids],
    )
    rows = await conn.fetch(
        "SELECT signal_id, facts::text AS facts FROM signals WHERE signal_id = ANY($1::uuid[])"
        " ORDER BY signal_id FOR UPDATE",
        ids,
    )
    return {r["signal_id"]: _facts_from_json(r["facts"]) for r in rows}


async def save_facts(conn: DbConnection, facts: SignalFacts) -> None:
    await save_all_facts(conn, [facts])


async def save_all_facts(conn: DbConnection, facts: Sequence[SignalFacts]) -> None:
    """One row per signal (each at most once in `facts`)."""
    if not facts:
        return
    await conn.execute(
        "INSERT INTO signals (signal_id, municipality, facts)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]::jsonb[])"
        " ON CONFLICT (signal_id) DO UPDATE SET facts = excluded.facts, updated_at = now()",
        [f.signal_id for f in facts],
        [f.municipality for f in facts],
        [_facts_to_json(f) for f in facts],
    )


@dataclass(frozen=True)
class Planned:
    """The messages one event planned, with what is kept of the event (the reason a parked
    message names) and the event's trace, which the messages' outcomes continue."""

    event: Envelope[Any]
    topic: str
    key: str
    messages: list[Message]
    trace_context: dict[str, str]


def current_trace_context() -> dict[str, str]:
    carrier: dict[str, str] = {}
    TRACE_CONTEXT.inject(carrier)
    return carrier


async def keep_reasons(conn: DbConnection, planned: Sequence[Planned]) -> None:
    if not planned:
        return
    await conn.execute(
        "INSERT INTO reasons (event_id, topic, key, value)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])"
        " ON CONFLICT DO NOTHING",
        [p.event.event_id for p in planned],
        [p.topic for p in planned],
        [p.key for p in planned],
        [p.event.model_dump_json().encode() for p in planned],
    )


DELIVERIES_PLANNED = "notifications_deliveries_planned"
"""The NOTIFY channel on which a committed plan wakes the senders of every replica."""


async def record_deliveries(
    conn: DbConnection, planned: Sequence[Planned], *, due: datetime
) -> int:
    """Insert one row per message; a message decided before (same dedupe key, also earlier in
    `planned`) is skipped. Returns how many are new."""
    rows = [
        (
            uuid7(),
            m.dedupe_key(p.event.event_id),
            m.reason_event_id or p.event.event_id,
            p.event.type,
            p.event.correlation_id,
            p.event.municipality,
            m.signal_id,
            m.rule,
            m.template,
            m.language,
            m.channel.value,
            m.recipient_kind.value,
            m.recipient,
            json.dumps(dict(m.address)),
            json.dumps(dict(m.context)),
            m.urgency.value,
            m.quiet_hours,
            due,
            json.dumps(p.trace_context),
        )
        for p in planned
        for m in p.messages
    ]
    if not rows:
        return 0
    inserted = await conn.fetch(
        "INSERT INTO deliveries (delivery_id, dedupe_key, reason_event_id, reason_type,"
        " correlation_id, municipality, signal_id, rule, template, language, channel,"
        " recipient_kind, recipient, address, context, urgency, quiet_hours, next_attempt_at,"
        " trace_context)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[],"
        " $6::text[], $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
        " $13::text[], $14::text[]::jsonb[], $15::text[]::jsonb[], $16::text[], $17::bool[],"
        " $18::timestamptz[], $19::text[]::jsonb[])"
        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING delivery_id",
        *[list(col) for col in zip(*rows, strict=True)],
    )
    if inserted:
        # delivered when the transaction commits: the senders wake without waiting for a poll
        await conn.execute("SELECT pg_notify($1, '')", DELIVERIES_PLANNED)
    return len(inserted)


# -- the sender's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    delivery_id: UUID
    reason_event_id: UUID
    reason_type: str
    correlation_id: UUID
    municipality: str
    signal_id: UUID | None
    rule: str
    template: str
    language: str
    channel: str
    recipient_kind: str
    recipient: str
    address: dict[str, str]
    context: dict[str, Any]
    urgency: str
    quiet_hours: bool
    queued_reason: str | None
    attempts: int
    created_at: datetime
    trace_context: dict[str, str]
    """W3C trace context of the event that planned the message (traceparent, tracestate)."""


_DELIVERY_COLUMNS = (
    "delivery_id, reason_event_id, reason_type, correlation_id, municipality, signal_id, rule,"
    " template, language, channel, recipient_kind, recipient, address::text AS address,"
    " context::text AS context, urgency, quiet_hours, queued_reason, attempts, created_at,"
    " trace_context::text AS trace_context"
)


async def claim_due(
    conn: DbConnection, now: datetime, limit: int, *, acute_only: bool = False
) -> list[Delivery]:
    """Up to `limit` due deliveries, locked until this transaction ends; other replicas skip
    them. Acute ones first (their own index: never a scan past the ordinary backlog), then the
    oldest due whose recipient nobody else is sending to: the recipient's lock is tried, not
    waited for, so a receiver that hangs holds one sender, not every sender that reaches its
    messages. The lock is this transaction's (re-entrant: several messages to one recipient may
    be in one batch) and serialises sends to a recipient across replicas, so the rate limit
    holds. (A try that succeeds on a row another replica then holds keeps that recipient locked
    until this transaction ends: at worst one more recipient waits for one batch.)"""
    rows = await conn.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"  # noqa: S608 - fixed column list
        " WHERE status = 'pending' AND urgency = 'acute' AND next_attempt_at <= $1"
        " ORDER BY next_attempt_at, delivery_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    if len(rows) < limit and not acute_only:
        # our own locks do not make SKIP LOCKED skip: the acute rows just taken are excluded
        rows += await conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"  # noqa: S608 - fixed column list
            " WHERE status = 'pending' AND next_attempt_at <= $1"
            " AND delivery_id <> ALL($3::uuid[])"
            " AND (urgency = 'acute' OR pg_try_advisory_xact_lock(hashtextextended(recipient, 0)))"
            " ORDER BY next_attempt_at, delivery_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit - len(rows),
            [r["delivery_id"] for r in rows],
        )
    return [_delivery(row) for row in rows]


def _delivery(row: asyncpg.Record) -> Delivery:
    values = dict(row)
    values["address"] = json.loads(values["address"])
    values["context"] = json.loads(values["context"])
    values["trace_context"] = json.loads(values["trace_context"])
    return Delivery(**values)


async def sent_in_window(
    conn: DbConnection, recipients: Sequence[str], since: datetime, limit: int
) -> dict[str, tuple[int, datetime | None]]:
    """Per recipient: how often they were sent to after `since`, counted up to `limit` (the
    most recent), and by when the oldest of those went out at the latest; one statement for a
    batch, at most one row per minute of the window per recipient, whatever the traffic.

    Sends are counted per minute, so the minute that `since` falls in counts whole: the limit
    may hold a message back up to a minute longer than an exact count would, never shorter."""
    rows = await conn.fetch(
        "SELECT r.recipient, s.sent, s.oldest FROM unnest($1::text[]) AS r(recipient)"
        " CROSS JOIN LATERAL (SELECT least(coalesce(sum(m.sent), 0), $3)::int AS sent,"
        " min(m.minute) + interval '1 minute' AS oldest FROM"
        # the newest minutes that hold the `limit` most recent sends
        " (SELECT minute, sent, sum(sent) OVER (ORDER BY minute DESC) - sent AS newer"
        " FROM sends_per_minute WHERE recipient = r.recipient"
        " AND minute > $2::timestamptz - interval '1 minute') AS m"
        " WHERE m.newer < $3) AS s",
        list(recipients),
        since,
        limit,
    )
    return {row["recipient"]: (int(row["sent"]), row["oldest"]) for row in rows}


async def count_sends(conn: DbConnection, recipients: Sequence[str], at: datetime) -> None:
    """One more send to each of `recipients` (a recipient may be named more than once) in the
    minute of `at`: what the rate limit counts."""
    await conn.execute(
        "INSERT INTO sends_per_minute AS c (recipient, minute, sent)"
        " SELECT recipient,"
        " date_bin('1 minute', $2::timestamptz, TIMESTAMPTZ '2000-01-01 00:00+00'), count(*)"
        " FROM unnest($1::text[]) AS s(recipient) GROUP BY recipient ORDER BY recipient"
        " ON CONFLICT (recipient, minute) DO UPDATE SET sent = c.sent + excluded.sent",
        list(recipients),
        at,
    )


async def forget_sends_before(conn: DbConnection, before: datetime) -> int:
    """Drop the counts of minutes that ended before `before` (no window reaches them)."""
    status = await conn.execute(
        "DELETE FROM sends_per_minute WHERE minute <= $1::timestamptz - interval '1 minute'", before
    )
    return int(status.split()[-1])


async def defer(
    conn: DbConnection, delivery_id: UUID, until: datetime, queued_reason: str | None
) -> None:
    await conn.execute(
        "UPDATE deliveries SET next_attempt_at = $2, queued_reason = $3 WHERE delivery_id = $1",
        delivery_id,
        until,
        queued_reason,
    )


async def mark_sent(conn: DbConnection, delivery_ids: Sequence[UUID], at: datetime) -> None:
    """Sent, in one statement for a batch; the address is no longer needed once the message is
    out."""
    await conn.execute(
        "UPDATE deliveries d SET status = 'sent', sent_at = $2, attempts = d.attempts + 1,"
        " address = '{}'::jsonb, last_error = NULL"
        " FROM unnest($1::uuid[]) AS sent(delivery_id) WHERE d.delivery_id = sent.delivery_id",
        list(delivery_ids),
        at,
    )


async def mark_retry(
    conn: DbConnection, delivery_id: UUID, next_attempt_at: datetime, error: str
) -> None:
    await conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3"
        " WHERE delivery_id = $1",
        delivery_id,
        next_attempt_at,
        error,
    )


async def mark_failed(conn: DbConnection, delivery_id: UUID, at: datetime, error: str) -> int:
    return int(
        await conn.fetchval(
            "UPDATE deliveries SET status = 'failed', failed_at = $2, last_error = $3,"
            " attempts = attempts + 1 WHERE delivery_id = $1 RETURNING attempts",
            delivery_id,
            at,
            error,
        )
    )


async def reason(conn: DbConnection, event_id: UUID) -> tuple[str, str, bytes] | None:
    row = await conn.fetchrow("SELECT topic, key, value FROM reasons WHERE event_id = $1", event_id)
    return (row["topic"], row["key"], bytes(row["value"])) if row else None


# -- what operators see ------------------------------------------------------------------------


async def list_deliveries(
    conn: DbConnection,
    municipality: str,
    status: str | None,
    limit: int,
    signal_id: UUID | None = None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT delivery_id, reason_event_id, reason_type, signal_id, rule, template, language,"
        " channel, recipient_kind,"
        " CASE WHEN status = 'pending' AND queued_reason IS NOT NULL THEN 'queued'"
        " ELSE status END AS status, queued_reason, attempts, next_attempt_at, last_error,"
        " created_at, sent_at, failed_at"
        " FROM deliveries WHERE municipality = $1"
        " AND ($2::text IS NULL OR status = $2 OR ($2 = 'queued' AND queued_reason IS NOT NULL"
        " AND status = 'pending'))"
        " AND ($4::uuid IS NULL OR signal_id = $4)"
        " ORDER BY created_at DESC, delivery_id DESC LIMIT $3",
        municipality,
        status,
        limit,
        signal_id,
    )
    return [dict(r) for r in rows]


async def retry_failed(
    conn: DbConnection, delivery_id: UUID, municipality: str, now: datetime
) -> bool:
    """An operator sends a failed message again (same delivery id, fresh attempts)."""
    result = await conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3,"
        " failed_at = NULL WHERE delivery_id = $1 AND municipality = $2 AND status = 'failed'",
        delivery_id,
        municipality,
        now,
    )
    return result.endswith(" 1")


async def erase_signal(
    conn: DbConnection, signal_id: UUID, municipality: str, *, person: bool, now: datetime
) -> int:
    """signals.erased.v1: forget what was kept for the signal. The person: the facts become an
    empty tombstone, the kept reason events (sealed copies) go, and no message still waiting
    goes out. The reporter alone: their sealed contact values leave the facts and no message
    to them still waiting goes out. Returns how many waiting messages were cancelled."""
    raw = await conn.fetchval(
        "SELECT facts::text FROM signals WHERE signal_id = $1 FOR UPDATE", signal_id
    )
    facts = (_facts_from_json(raw) if raw else None) or SignalFacts(signal_id, municipality)
    if person:
        kept = SignalFacts(signal_id=signal_id, municipality=facts.municipality, erased=True)
        await conn.execute("DELETE FROM reasons WHERE key = $1", str(signal_id))
    else:
        kept = replace(
            facts,
            reporter_id=None,
            reporter_email=None,
            reporter_phone=None,
            may_contact=False,
            wants_feedback=False,
        )
    await save_facts(conn, kept)
    cancelled = await conn.execute(
        "UPDATE deliveries SET status = 'failed', failed_at = $2, last_error = 'erased',"
        " address = '{}'::jsonb WHERE signal_id = $1 AND status = 'pending'"
        " AND ($3 OR recipient_kind = 'reporter')",
        signal_id,
        now,
        person,
    )
    # sent messages keep no address either (cleared once sent); what they were stays countable
    return int(cancelled.split()[-1])
