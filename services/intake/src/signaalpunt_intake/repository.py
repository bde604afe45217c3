"""Intake's SQL: signals as received and idempotency keys (schema `intake`)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from signaalpunt_runtime.database import DbConnection


class ClaimOutcome(Enum):
    NEW = "new"  # first time: go ahead
    REPLAY = "replay"  # done before with the same body: answer the same
    MISMATCH = "mismatch"  # same key, different body: 422
    IN_FLIGHT = "in_flight"  # the first request is still being handled: 409


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    response: dict[str, Any] | None = None


async def claim_idempotency_key(
    conn: DbConnection, scope: str, key: str, body_hash: bytes, in_flight_timeout: timedelta
) -> Claim:
    """Runs in its own short transaction, so a concurrent request sees the claim at once."""
    async with conn.transaction():
        if await conn.fetchval(
            "INSERT INTO idempotency_keys (scope, key, body_hash, state)"
            " VALUES ($1, $2, $3, 'in_flight') ON CONFLICT DO NOTHING RETURNING true",
            scope,
            key,
            body_hash,
        ):
            return Claim(ClaimOutcome.NEW)
        row = await conn.fetchrow(
            "SELECT body_hash, state, response::text AS response, created_at FROM idempotency_keys"
            " WHERE scope = $1 AND key = $2 FOR UPDATE",
            scope,
            key,
        )
        assert row is not None
        if bytes(row["body_hash"]) != body_hash:
            return Claim(ClaimOutcome.MISMATCH)
        if row["state"] == "done":
            return Claim(ClaimOutcome.REPLAY, json.loads(row["response"]))
        stale: datetime = row["created_at"]
        if await conn.fetchval("SELECT now() - $1::timestamptz > $2", stale, in_flight_timeout):
            # the first attempt died mid-way (its transaction rolled back): take over
            await conn.execute(
                "UPDATE idempotency_keys SET created_at = now() WHERE scope = $1 AND key = $2",
                scope,
                key,
            )
            return Claim(ClaimOutcome.NEW)
        return Claim(ClaimOutcome.IN_FLIGHT)


async def claim_idempotency_keys(
    conn: DbConnection,
    claims: Sequence[tuple[str, str, bytes]],
    in_flight_timeout: timedelta,
) -> list[Claim]:
    """Claim many (scope, key, body hash) at once: one statement, committed on its own, for the
    usual case of keys never seen; a key seen before (or twice in this group) goes through
    `claim_idempotency_key`, which tells a replay, a mismatch and a request still in flight."""
    new = {
        (row["scope"], row["key"])
        for row in await conn.fetch(
            "INSERT INTO idempotency_keys (scope, key, body_hash, state)"
            " SELECT scope, key, body_hash, 'in_flight'"
            " FROM unnest($1::text[], $2::text[], $3::bytea[]) AS c(scope, key, body_hash)"
            " ON CONFLICT DO NOTHING RETURNING scope, key",
            [scope for scope, _, _ in claims],
            [key for _, key, _ in claims],
            [body_hash for _, _, body_hash in claims],
        )
    }
    outcomes: list[Claim] = []
    for scope, key, body_hash in claims:
        if (scope, key) in new:
            new.discard((scope, key))  # a second request with this key in the group is not new
            outcomes.append(Claim(ClaimOutcome.NEW))
        else:
            outcomes.append(
                await claim_idempotency_key(conn, scope, key, body_hash, in_flight_timeout)
            )
    return outcomes


async def release_idempotency_key(conn: DbConnection, scope: str, key: str) -> None:
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'",
        scope,
        key,
    )


async def release_idempotency_keys(conn: DbConnection, keys: Sequence[tuple[str, str]]) -> None:
    """Free (scope, key) claims whose request was refused: a later retry may go ahead."""
    if keys:
        await conn.execute(
            "DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[]) AS r(scope, key)"
            " WHERE k.scope = r.scope AND k.key = r.key AND k.state = 'in_flight'",
            [scope for scope, _ in keys],
            [key for _, key in keys],
        )


async def complete_idempotency_keys(
    conn: DbConnection, done: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    """Store the answer for each (scope, key): a retry with the same body gets it again."""
    if done:
        await conn.execute(
            "UPDATE idempotency_keys k SET state = 'done', response = r.response::jsonb"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS r(scope, key, response)"
            " WHERE k.scope = r.scope AND k.key = r.key",
            [scope for scope, _, _ in done],
            [key for _, key, _ in done],
            [json.dumps(response) for _, _, response in done],
        )


async def lock_people(conn: DbConnection, people: Collection[tuple[str, str]]) -> None:
    """Until the transaction ends, hold a lock per (municipality, person index): a concurrent
    transaction about the same person waits, then sees this one's signals. Without it, two
    signals about one person stored at the same moment would both look like the first. Locks are
    taken in one order, so two groups never wait for each other in a circle."""
    keys = sorted({_lock_key(municipality, index) for municipality, index in people})
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest($1::bigint[]) AS k ORDER BY 1) s",
            keys,
        )


def _lock_key(municipality: str, person_index: str) -> int:
    digest = hashlib.blake2b(f"{municipality}:{person_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # an advisory lock key is a bigint


async def latest_signals_about(
    conn: DbConnection, people: Collection[tuple[str, str]], since: datetime
) -> dict[tuple[str, str], UUID]:
    """For each (municipality, person index): the latest signal about that person since `since`."""
    if not people:
        return {}
    rows = await conn.fetch(
        "SELECT DISTINCT ON (q.m, q.p) q.m, q.p, s.signal_id"
        " FROM unnest($1::text[], $2::text[]) AS q(m, p)"
        " JOIN signals s ON s.municipality = q.m AND s.person_index = q.p AND s.received_at >= $3"
        " ORDER BY q.m, q.p, s.received_at DESC",
        [m for m, _ in people],
        [p for _, p in people],
        since,
    )
    return {(row["m"], row["p"]): row["signal_id"] for row in rows}


SignalRow = tuple[UUID, UUID, str, str, str | None, str | None, UUID | None, bytes, str, datetime]
"""(signal id, subject id, municipality, channel, submitted by, person index, possible duplicate
of, receipt hash, canonical signal as JSON, received at)"""


async def insert_signals(conn: DbConnection, rows: Sequence[SignalRow]) -> None:
    """All rows in one statement (one array per column)."""
    if rows:
        await conn.execute(
            "INSERT INTO signals (signal_id, subject_id, municipality, channel, submitted_by,"
            " person_index, possible_duplicate_of, receipt_hash, signal, received_at)"
            " SELECT i, s, m, c, b, p, d, r, j::jsonb, t FROM unnest($1::uuid[], $2::uuid[],"
            " $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::bytea[],"
            " $9::text[], $10::timestamptz[]) AS r(i, s, m, c, b, p, d, r, j, t)",
            *(list(column) for column in zip(*rows, strict=True)),
        )


async def receipt_and_handling(conn: DbConnection, signal_id: UUID) -> tuple[bytes, str] | None:
    """The receipt token's hash and what the reporter may know of the signal's handling."""
    row = await conn.fetchrow(
        "SELECT receipt_hash, handling FROM signals WHERE signal_id = $1", signal_id
    )
    return (bytes(row["receipt_hash"]), str(row["handling"])) if row else None


@dataclass(frozen=True)
class CaseProgress:
    """What intake keeps of a signal's latest case step: what the reporter may know of its
    handling, when and how it ended (retention; None while open), its route (an open acute
    case makes an erasure ask for confirmation)."""

    signal_id: UUID
    handling: str
    closed_as: str | None
    closed_at: datetime | None
    route: str


async def follow_cases(conn: DbConnection, progress: Sequence[CaseProgress]) -> None:
    """Follow the cases, one signal at most once in `progress`; unknown ids change nothing."""
    if not progress:
        return
    await conn.execute(
        "UPDATE signals AS s SET handling = u.handling, closed_as = u.closed_as,"
        " closed_at = u.closed_at, route = u.route"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])"
        " AS u(signal_id, handling, closed_as, closed_at, route) WHERE s.signal_id = u.signal_id",
        [p.signal_id for p in progress],
        [p.handling for p in progress],
        [p.closed_as for p in progress],
        [p.closed_at for p in progress],
        [p.route for p in progress],
    )


async def count_requests(
    conn: DbConnection, clients: Sequence[str], window_seconds: int
) -> dict[str, tuple[int, float, int]]:
    """Count the requests of a group (a client may appear more than once) in the current fixed
    window, shared by every replica. Returns per client: the count including this group, the
    seconds until the window ends, and how many of the count are this group's. Old windows are
    pruned whenever a client starts a new window."""
    if not clients:
        return {}
    in_group = Counter(clients)
    ordered = sorted(in_group)  # every group locks its rows in the same order: no deadlocks
    rows = await conn.fetch(
        "WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / $3) * $3) AS start)"
        " INSERT INTO rate_limits (client, window_start, requests)"
        " SELECT c.client, w.start, c.n"
        " FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS c(client, n, i), w ORDER BY c.i"
        " ON CONFLICT (client, window_start)"
        " DO UPDATE SET requests = rate_limits.requests + excluded.requests"
        " RETURNING client, requests, extract(epoch FROM"
        " window_start + make_interval(secs => $3) - now())::float8 AS remaining",
        ordered,
        [in_group[c] for c in ordered],
        window_seconds,
    )
    counts = {row["client"]: (int(row["requests"]), float(row["remaining"])) for row in rows}
    if any(total == in_group[client] for client, (total, _) in counts.items()):
        await conn.execute(
            "DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1 * 2)",
            window_seconds,
        )
    return {client: (*counts[client], in_group[client]) for client in ordered}


@dataclass(frozen=True)
class EarlierPartnerEvent:
    content_digest: str | None  # None: taken before digests were kept
    signal_id: UUID
    received_at: datetime


async def earlier_partner_events(
    conn: DbConnection, events: Collection[tuple[str, str]]
) -> dict[tuple[str, str], EarlierPartnerEvent]:
    """The events already taken among `(partner, event id)` pairs, locked until commit."""
    if not events:
        return {}
    rows = await conn.fetch(
        "SELECT e.partner, e.event_id, e.content_digest, e.signal_id, e.received_at"
        " FROM partner_events e"
        " JOIN unnest($1::text[], $2::text[]) AS u(partner, event_id)"
        " ON (e.partner, e.event_id) = (u.partner, u.event_id) FOR UPDATE OF e",
        [p for p, _ in events],
        [i for _, i in events],
    )
    return {
        (r["partner"], r["event_id"]): EarlierPartnerEvent(
            r["content_digest"], r["signal_id"], r["received_at"]
        )
        for r in rows
    }


async def record_partner_events(
    conn: DbConnection, rows: Sequence[tuple[str, str, str, UUID, datetime]]
) -> None:
    """(partner, event id, content digest, signal id, received at) of events just taken."""
    if rows:
        await conn.executemany(
            "INSERT INTO partner_events"
            " (partner, event_id, content_digest, signal_id, received_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
