"""Intake's SQL: signals as received and idempotency keys (schema `intake`)."""

from __future__ import annotations

import json
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


async def release_idempotency_key(conn: DbConnection, scope: str, key: str) -> None:
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'",
        scope,
        key,
    )


async def complete_idempotency_key(
    conn: DbConnection, scope: str, key: str, response: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET state = 'done', response = $3::text::jsonb"
        " WHERE scope = $1 AND key = $2",
        scope,
        key,
        json.dumps(response),
    )


async def earlier_signal_about(
    conn: DbConnection, municipality: str, person_index: str, since: datetime
) -> UUID | None:
    value: UUID | None = await conn.fetchval(
        "SELECT signal_id FROM signals WHERE municipality = $1 AND person_index = $2"
        " AND received_at >= $3 ORDER BY received_at DESC LIMIT 1",
        municipality,
        person_index,
        since,
    )
    return value


async def insert_signal(
    conn: DbConnection,
    *,
    signal_id: UUID,
    subject_id: UUID,
    municipality: str,
    channel: str,
    submitted_by: str | None,
    person_index: str | None,
    possible_duplicate_of: UUID | None,
    receipt_hash: bytes,
    signal_json: str,
    received_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO signals (signal_id, subject_id, municipality, channel, submitted_by,"
        " person_index, possible_duplicate_of, receipt_hash, signal, received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10)",
        signal_id,
        subject_id,
        municipality,
        channel,
        submitted_by,
        person_index,
        possible_duplicate_of,
        receipt_hash,
        signal_json,
        received_at,
    )


async def receipt_and_handling(conn: DbConnection, signal_id: UUID) -> tuple[bytes, str] | None:
    """The receipt token's hash and what the reporter may know of the signal's handling."""
    row = await conn.fetchrow(
        "SELECT receipt_hash, handling FROM signals WHERE signal_id = $1", signal_id
    )
    return (bytes(row["receipt_hash"]), str(row["handling"])) if row else None


async def set_handling(conn: DbConnection, signal_id: UUID, handling: str) -> None:
    """Follow the case (cases.steps.v1 arrives in order per signal); unknown ids change nothing."""
    await conn.execute("UPDATE signals SET handling = $2 WHERE signal_id = $1", signal_id, handling)


async def count_request(conn: DbConnection, client: str, window_seconds: int) -> tuple[int, float]:
    """Count one request of `client` in the current fixed window (shared by every replica);
    returns the count so far and the seconds until the window ends. Old windows are pruned by
    each client's first request of a window."""
    row = await conn.fetchrow(
        "WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / $2) * $2) AS start)"
        " INSERT INTO rate_limits (client, window_start, requests)"
        " SELECT $1, w.start, 1 FROM w"
        " ON CONFLICT (client, window_start) DO UPDATE SET requests = rate_limits.requests + 1"
        " RETURNING requests, extract(epoch FROM window_start + make_interval(secs => $2) - now())",
        client,
        window_seconds,
    )
    assert row is not None
    if int(row[0]) == 1:  # the first request of a window prunes what is long past
        await conn.execute(
            "DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1 * 2)",
            window_seconds,
        )
    return int(row[0]), float(row[1])
