"""SQL of erasure: finding a person's signals, the requests, and deleting what intake holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from signaalpunt_contracts import ErasureReason, ErasureScope
from signaalpunt_runtime.database import DbConnection

from .erasure import Candidate, ErasureRequest
from .retention import ClosedSignal

_CANDIDATE = (
    "SELECT signal_id, municipality, channel, received_at, handling, route, subject_id,"
    " signal->>'reported_urgency' AS reported_urgency,"
    " (signal->>'reporter_id')::uuid AS reporter_id FROM signals"
)


def _candidates(rows: Sequence[object]) -> list[Candidate]:
    return [Candidate(**dict(r)) for r in rows]  # type: ignore[call-overload]


async def signals_about_person(
    conn: DbConnection, municipality: str, person_index: str
) -> list[Candidate]:
    """Every signal of the municipality whose blind index is this person's."""
    rows = await conn.fetch(
        f"{_CANDIDATE} WHERE municipality = $1 AND person_index = $2 ORDER BY received_at",
        municipality,
        person_index,
    )
    return _candidates(rows)


async def signals_like(
    conn: DbConnection, municipality: str, signal_ids: Sequence[UUID]
) -> list[Candidate]:
    """The named signals and every other signal with the same blind index (the same person,
    possibly): the coordinator confirms which of them really are."""
    rows = await conn.fetch(
        f"{_CANDIDATE} WHERE municipality = $1 AND (signal_id = ANY($2::uuid[])"  # noqa: S608
        " OR person_index IN (SELECT person_index FROM signals WHERE municipality = $1"
        " AND signal_id = ANY($2::uuid[]) AND person_index IS NOT NULL))"
        " ORDER BY received_at",
        municipality,
        list(signal_ids),
    )
    return _candidates(rows)


async def named_signals(
    conn: DbConnection, municipality: str, signal_ids: Sequence[UUID]
) -> list[Candidate]:
    rows = await conn.fetch(
        f"{_CANDIDATE} WHERE municipality = $1 AND signal_id = ANY($2::uuid[])"
        " ORDER BY received_at FOR UPDATE",
        municipality,
        list(signal_ids),
    )
    return _candidates(rows)


async def insert_request(conn: DbConnection, request: ErasureRequest, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO erasures (erasure_id, municipality, scope, reason, signal_ids,"
        " open_acute_confirmed, requested_by, state, requested_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        request.erasure_id,
        request.municipality,
        request.scope.value,
        request.reason.value,
        list(request.signal_ids),
        request.open_acute_confirmed,
        request.requested_by,
        request.state,
        now,
    )


async def get_request(
    conn: DbConnection, erasure_id: UUID, *, for_update: bool = False
) -> ErasureRequest | None:
    row = await conn.fetchrow(
        "SELECT erasure_id, municipality, scope, reason, signal_ids, requested_by,"  # noqa: S608
        " open_acute_confirmed, state, approved_by FROM erasures WHERE erasure_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        erasure_id,
    )
    if row is None:
        return None
    return ErasureRequest(
        erasure_id=row["erasure_id"],
        municipality=row["municipality"],
        scope=ErasureScope(row["scope"]),
        reason=ErasureReason(row["reason"]),
        signal_ids=tuple(row["signal_ids"]),
        requested_by=row["requested_by"],
        open_acute_confirmed=row["open_acute_confirmed"],
        state=row["state"],
        approved_by=row["approved_by"],
    )


async def mark_done(
    conn: DbConnection, erasure_id: UUID, approved_by: str | None, now: datetime
) -> None:
    await conn.execute(
        "UPDATE erasures SET state = 'done', approved_by = $2, done_at = $3 WHERE erasure_id = $1",
        erasure_id,
        approved_by,
        now,
    )


async def delete_signals(conn: DbConnection, signal_ids: Sequence[UUID]) -> int:
    """The person scope: the signal rows (with their blind index, so the erased person is no
    longer linkable and a new report links to nothing), the idempotency answers that name them,
    and the published outbox copies of their events."""
    ids = list(signal_ids)
    keys = [str(i) for i in ids]
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE response->>'signal_id' = ANY($1::text[])", keys
    )
    await conn.execute(
        "DELETE FROM outbox WHERE key = ANY($1::text[]) AND published_at IS NOT NULL", keys
    )
    # a partner's event stays known by its id (a resend must not bring the person back), but
    # without the digest of what it said
    await conn.execute(
        "UPDATE partner_events SET content_digest = NULL WHERE signal_id = ANY($1::uuid[])", ids
    )
    return int(
        (await conn.execute("DELETE FROM signals WHERE signal_id = ANY($1::uuid[])", ids)).split()[
            -1
        ]
    )


async def strip_reporter(conn: DbConnection, signal_ids: Sequence[UUID]) -> None:
    """The reporter scope: the reporter's sealed details leave the stored signal too."""
    await conn.execute(
        "UPDATE signals SET signal = jsonb_set(signal, '{reporter}', (signal->'reporter')"
        " - 'name' - 'phone' - 'email' - 'organisation' - 'organisation_sealed'"
        ' || \'{"may_contact": false, "wants_feedback": false}\'::jsonb)'
        " WHERE signal_id = ANY($1::uuid[])",
        list(signal_ids),
    )


# -- retention -----------------------------------------------------------------------------------


async def closed_before(conn: DbConnection, before: datetime, limit: int) -> list[ClosedSignal]:
    """Signals closed before `before`, oldest first (the index on closed_at)."""
    rows = await conn.fetch(
        "SELECT signal_id, municipality, closed_as, closed_at,"
        " (signal->>'reporter_id') IS NOT NULL AND reporter_anonymised_at IS NULL"
        "   AS reporter_left"
        " FROM signals WHERE closed_at < $1 ORDER BY closed_at LIMIT $2",
        before,
        limit,
    )
    return [ClosedSignal(**dict(r)) for r in rows]


async def mark_reporter_anonymised(
    conn: DbConnection, signal_ids: Sequence[UUID], at: datetime
) -> None:
    await conn.execute(
        "UPDATE signals SET reporter_anonymised_at = $2 WHERE signal_id = ANY($1::uuid[])",
        list(signal_ids),
        at,
    )


async def signals_held(
    conn: DbConnection, municipality: str, signal_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    """What intake holds of these signals (the stored signal still sealed), for an export."""
    rows = await conn.fetch(
        "SELECT signal_id, municipality, channel, submitted_by, possible_duplicate_of, handling,"
        " route, received_at, closed_at, closed_as, reporter_anonymised_at, subject_id, signal"
        " FROM signals WHERE municipality = $1 AND signal_id = ANY($2::uuid[])"
        " ORDER BY received_at",
        municipality,
        list(signal_ids),
    )
    return [dict(r) for r in rows]


async def erasure_records_before(conn: DbConnection, before: datetime) -> dict[str, int]:
    """Per municipality: erasure records carried out before `before` (what retention would
    remove)."""
    rows = await conn.fetch(
        "SELECT municipality, count(*) AS n FROM erasures"
        " WHERE state = 'done' AND done_at < $1 GROUP BY municipality",
        before,
    )
    return {r["municipality"]: int(r["n"]) for r in rows}


async def delete_erasure_records(conn: DbConnection, before: datetime) -> dict[str, int]:
    """Remove erasure records carried out before `before`; per municipality, how many."""
    rows = await conn.fetch(
        "WITH gone AS (DELETE FROM erasures WHERE state = 'done' AND done_at < $1"
        " RETURNING municipality) SELECT municipality, count(*) AS n FROM gone"
        " GROUP BY municipality",
        before,
    )
    return {r["municipality"]: int(r["n"]) for r in rows}
