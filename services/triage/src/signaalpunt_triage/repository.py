"""Triage's SQL: cases, decisions, steps, edit locks and the deadline watcher's query."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from signaalpunt_contracts import (
    Advice,
    CaseState,
    CloseReason,
    DecidedBy,
    FiredRule,
    Priority,
    RiskGroup,
    Route,
)
from signaalpunt_runtime.database import DbConnection

from .decisions import Decision


@dataclass(frozen=True)
class Case:
    signal_id: UUID
    subject_id: UUID
    municipality: str
    channel: str
    received_at: datetime
    state: CaseState
    route: Route
    priority: Priority
    risk_groups: tuple[RiskGroup, ...]
    advice: tuple[Advice, ...]
    needs_review: bool
    explanation: tuple[FiredRule, ...]
    decision: int
    decided_by: DecidedBy
    rules_version: str
    first_contact_due: datetime
    first_contact_at: datetime | None
    contact_attempts: int
    close_reason: CloseReason | None
    updated_at: datetime
    review_due: datetime | None = None  # possible acute: a coordinator reviews by then
    reviewed_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        return (
            self.first_contact_at is None
            and self.state is not CaseState.CLOSED
            and self.first_contact_due < now
        )


def _case(row: Any) -> Case:
    return Case(
        signal_id=row["signal_id"],
        subject_id=row["subject_id"],
        municipality=row["municipality"],
        channel=row["channel"],
        received_at=row["received_at"],
        state=CaseState(row["state"]),
        route=Route(row["route"]),
        priority=Priority(row["priority"]),
        risk_groups=tuple(RiskGroup(g) for g in row["risk_groups"]),
        advice=tuple(Advice(a) for a in row["advice"]),
        needs_review=row["needs_review"],
        explanation=tuple(FiredRule.model_validate(f) for f in json.loads(row["explanation"])),
        decision=row["decision"],
        decided_by=DecidedBy(row["decided_by"]),
        rules_version=row["rules_version"],
        first_contact_due=row["first_contact_due"],
        first_contact_at=row["first_contact_at"],
        contact_attempts=row["contact_attempts"],
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        updated_at=row["updated_at"],
        review_due=row["review_due"],
        reviewed_at=row["reviewed_at"],
    )


def _explanation(decision: Decision) -> str:
    return json.dumps([f.model_dump(mode="json") for f in decision.explanation])


@dataclass(frozen=True)
class NewCase:
    """A signal triaged by the rules, to be stored as a new case with its first decision."""

    signal_id: UUID
    subject_id: UUID
    municipality: str
    channel: str
    received_at: datetime
    decision: Decision


def _json_array(values: Sequence[Any]) -> str:
    # a text[] per row: unnest flattens an array of arrays, so each row's array goes as JSON
    return json.dumps([getattr(v, "value", v) for v in values])


async def insert_cases(
    conn: DbConnection, cases: Sequence[NewCase], *, decided_at: datetime
) -> set[UUID]:
    """New cases, triaged, with the rules' decisions and their first steps; returns the signals
    whose case was made here (not those that had one already, nor erased ones: for them nothing
    is written). A signal twice in `cases` (a replay) counts once, as its first.

    Two statements per batch, not per signal (a decided signal used to cost five round trips,
    then two apiece: a third of triage's CPU in a drain, issue 22). The decisions and steps go
    in a second statement because their row-level security checks that their case is visible,
    which a case inserted in the same statement is not yet. The explanation is stored as the
    other writers store it through the connection's jsonb codec: a JSON string holding the
    JSON text (`_case` reads it so)."""
    firsts = list({c.signal_id: c for c in reversed(cases)}.values())[::-1]
    if not firsts:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO cases (signal_id, subject_id, municipality, channel, received_at, state, route,
                           priority, risk_groups, advice, needs_review, explanation, decision,
                           decided_by, rules_version, first_contact_due, review_due)
        SELECT s, subject, m, ch, rec, 'triaged', r, p,
               ARRAY(SELECT jsonb_array_elements_text(g::jsonb)),
               ARRAY(SELECT jsonb_array_elements_text(a::jsonb)), review, to_jsonb(x), 1, 'rules',
               v, due, review_due
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                    $6::text[], $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[],
                    $12::text[], $13::timestamptz[], $14::timestamptz[])
             AS u(s, subject, m, ch, rec, r, p, g, a, review, x, v, due, review_due)
        WHERE NOT EXISTS (SELECT 1 FROM erased_signals AS e WHERE e.signal_id = u.s)
        ON CONFLICT (signal_id) DO NOTHING
        RETURNING signal_id
        """,
        [c.signal_id for c in firsts],
        [c.subject_id for c in firsts],
        [c.municipality for c in firsts],
        [c.channel for c in firsts],
        [c.received_at for c in firsts],
        [c.decision.route.value for c in firsts],
        [c.decision.priority.value for c in firsts],
        [_json_array(c.decision.risk_groups) for c in firsts],
        [_json_array(c.decision.advice) for c in firsts],
        [c.decision.needs_review for c in firsts],
        [_explanation(c.decision) for c in firsts],
        [c.decision.rules_version for c in firsts],
        [c.decision.first_contact_due for c in firsts],
        [c.decision.review_due for c in firsts],
    )
    created = {r["signal_id"] for r in rows}
    made = [c for c in firsts if c.signal_id in created]
    if not made:
        return created
    await conn.execute(
        """
        WITH decision AS (
            INSERT INTO decisions (signal_id, decision, route, priority, risk_groups,
                                   needs_review, decided_by, rules_version, decided_at)
            SELECT s, 1, r, p, ARRAY(SELECT jsonb_array_elements_text(g::jsonb)), review,
                   'rules', v, $7
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[])
                 AS u(s, r, p, g, review, v)
        )
        INSERT INTO steps (signal_id, seq, step, previous_state, state, recorded_by, recorded_at)
        SELECT s, 1, 'triaged', 'received', 'triaged', 'triage', $7 FROM unnest($1::uuid[]) AS s
        """,
        [c.signal_id for c in made],
        [c.decision.route.value for c in made],
        [c.decision.priority.value for c in made],
        [_json_array(c.decision.risk_groups) for c in made],
        [c.decision.needs_review for c in made],
        [c.decision.rules_version for c in made],
        decided_at,
    )
    return created


async def insert_decision(
    conn: DbConnection,
    *,
    signal_id: UUID,
    number: int,
    decision: Decision,
    decided_by: DecidedBy,
    staff: str | None,
    reason: str | None,
    decided_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO decisions (signal_id, decision, route, priority, risk_groups, needs_review,
                               decided_by, staff, reason, rules_version, decided_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        signal_id,
        number,
        decision.route.value,
        decision.priority.value,
        [g.value for g in decision.risk_groups],
        decision.needs_review,
        decided_by.value,
        staff,
        reason,
        decision.rules_version,
        decided_at,
    )


async def update_decision(
    conn: DbConnection,
    signal_id: UUID,
    *,
    number: int,
    decision: Decision,
    decided_by: DecidedBy,
) -> None:
    await conn.execute(
        """
        UPDATE cases SET route = $2, priority = $3, risk_groups = $4, advice = $5,
                         needs_review = $6, explanation = $7, decision = $8, decided_by = $9,
                         first_contact_due = $10, updated_at = now()
        WHERE signal_id = $1
        """,
        signal_id,
        decision.route.value,
        decision.priority.value,
        [g.value for g in decision.risk_groups],
        [a.value for a in decision.advice],
        decision.needs_review,
        _explanation(decision),
        number,
        decided_by.value,
        decision.first_contact_due,
    )


async def get_case(conn: DbConnection, signal_id: UUID, *, for_update: bool = False) -> Case | None:
    query = "SELECT * FROM cases WHERE signal_id = $1"
    row = await conn.fetchrow(f"{query} FOR UPDATE" if for_update else query, signal_id)
    return _case(row) if row else None


async def decisions_of(conn: DbConnection, signal_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT decision, route, priority, risk_groups, needs_review, decided_by, staff,
               reason IS NOT NULL AS has_reason, rules_version, decided_at
        FROM decisions WHERE signal_id = $1 ORDER BY decision
        """,
        signal_id,
    )
    return [dict(r) for r in rows]


async def steps_of(conn: DbConnection, signal_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT seq, step, previous_state, state, close_reason, referral_id, recorded_by,
               recorded_at
        FROM steps WHERE signal_id = $1 ORDER BY seq
        """,
        signal_id,
    )
    return [dict(r) for r in rows]


async def record_referral_progress(
    conn: DbConnection,
    *,
    signal_id: UUID,
    referral_id: UUID,
    step: str,
    recorded_by: str,
    recorded_at: datetime,
) -> bool:
    """A referral's progress on the case's timeline; the case's own state does not move. A
    change that leaves the referral where its last step put it (a volunteer match asking the
    next volunteer is a new `sent` version) adds nothing. False when triage has no such case."""
    state = await conn.fetchval(
        "SELECT state FROM cases WHERE signal_id = $1 FOR UPDATE", signal_id
    )
    if state is None:
        return False
    await conn.execute(
        """
        INSERT INTO steps (signal_id, seq, step, previous_state, state, referral_id,
                           recorded_by, recorded_at)
        SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $3, $4, $5, $6
        FROM steps WHERE signal_id = $1
        HAVING $2 IS DISTINCT FROM (
            SELECT step FROM steps
            WHERE signal_id = $1 AND referral_id = $4 ORDER BY seq DESC LIMIT 1
        )
        """,
        signal_id,
        step,
        state,
        referral_id,
        recorded_by,
        recorded_at,
    )
    return True


async def last_referral_step(
    conn: DbConnection, signal_id: UUID, steps: Sequence[str]
) -> tuple[UUID, str] | None:
    """The latest of these referral steps on the case's timeline, with its referral."""
    row = await conn.fetchrow(
        """
        SELECT referral_id, step FROM steps
        WHERE signal_id = $1 AND referral_id IS NOT NULL AND step = ANY($2::text[])
        ORDER BY seq DESC LIMIT 1
        """,
        signal_id,
        list(steps),
    )
    return (row["referral_id"], row["step"]) if row else None


async def record_step(
    conn: DbConnection,
    *,
    signal_id: UUID,
    step: str,
    previous_state: CaseState,
    state: CaseState,
    close_reason: CloseReason | None,
    note: str | None,
    recorded_by: str,
    recorded_at: datetime,
    contact_attempts: int,
    first_contact: bool,
) -> None:
    await conn.execute(
        """
        INSERT INTO steps (signal_id, seq, step, previous_state, state, close_reason, note,
                           recorded_by, recorded_at)
        SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8
        FROM steps WHERE signal_id = $1
        """,
        signal_id,
        step,
        previous_state.value,
        state.value,
        close_reason.value if close_reason else None,
        note,
        recorded_by,
        recorded_at,
    )
    await conn.execute(
        """
        UPDATE cases SET state = $2, contact_attempts = $3, close_reason = $4,
                         first_contact_at = CASE WHEN $5 THEN $6 ELSE first_contact_at END,
                         updated_at = now()
        WHERE signal_id = $1
        """,
        signal_id,
        state.value,
        contact_attempts,
        close_reason.value if close_reason else None,
        first_contact,
        recorded_at,
    )


# -- the review queue ------------------------------------------------------------------------


async def queue(
    conn: DbConnection,
    *,
    municipalities: Sequence[str],
    now: datetime,
    route: Route | None,
    priority: Priority | None,
    state: CaseState | None,
    overdue: bool | None,
    needs_review: bool | None,
    limit: int,
    offset: int,
    risk_group: RiskGroup | None = None,
) -> list[Case]:
    """Open cases (unless a state is asked), most urgent first: priority, then deadline."""
    rows = await conn.fetch(
        """
        SELECT * FROM cases
        WHERE municipality = ANY($1::text[])
          AND ($2::text IS NULL OR route = $2)
          AND ($3::text IS NULL OR priority = $3)
          AND (CASE WHEN $4::text IS NULL THEN state <> 'closed' ELSE state = $4 END)
          AND ($5::boolean IS NULL OR $5 = (first_contact_at IS NULL AND state <> 'closed'
                                             AND first_contact_due < $6))
          AND ($7::boolean IS NULL OR needs_review = $7)
          AND ($10::text IS NULL OR $10 = ANY(risk_groups))
        ORDER BY array_position(ARRAY['acute', 'high', 'normal', 'low'], priority),
                 review_due NULLS LAST, first_contact_due, signal_id
        LIMIT $8 OFFSET $9
        """,
        list(municipalities),
        route.value if route else None,
        priority.value if priority else None,
        state.value if state else None,
        overdue,
        now,
        needs_review,
        limit,
        offset,
        risk_group.value if risk_group else None,
    )
    return [_case(r) for r in rows]


# -- edit locks ------------------------------------------------------------------------------


async def take_lock(
    conn: DbConnection, signal_id: UUID, holder: str, now: datetime, duration: timedelta
) -> tuple[str, datetime]:
    """Take or extend the lock; returns who holds it now and until when (maybe someone else)."""
    row = await conn.fetchrow(
        """
        INSERT INTO edit_locks (signal_id, holder, expires_at) VALUES ($1, $2, $3)
        ON CONFLICT (signal_id) DO UPDATE SET holder = excluded.holder,
                                              expires_at = excluded.expires_at
            WHERE edit_locks.expires_at <= $4 OR edit_locks.holder = excluded.holder
        RETURNING holder, expires_at
        """,
        signal_id,
        holder,
        now + duration,
        now,
    )
    if row is not None:
        return row["holder"], row["expires_at"]
    current = await conn.fetchrow(
        "SELECT holder, expires_at FROM edit_locks WHERE signal_id = $1", signal_id
    )
    assert current is not None
    return current["holder"], current["expires_at"]


async def release_lock(conn: DbConnection, signal_id: UUID, holder: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM edit_locks WHERE signal_id = $1 AND holder = $2 RETURNING true",
        signal_id,
        holder,
    )
    return bool(deleted)


async def lock_of(
    conn: DbConnection, signal_id: UUID, now: datetime
) -> tuple[str, datetime] | None:
    row = await conn.fetchrow(
        "SELECT holder, expires_at FROM edit_locks WHERE signal_id = $1 AND expires_at > $2",
        signal_id,
        now,
    )
    return (row["holder"], row["expires_at"]) if row else None


# -- the deadline watcher --------------------------------------------------------------------


async def claim_missed(conn: DbConnection, now: datetime, limit: int) -> list[Case]:
    """Cases whose current deadline passed without first contact and was not yet reported.

    `FOR UPDATE SKIP LOCKED`: replicas running the watcher at the same time each get other rows;
    the caller marks them (`mark_missed`) and stages the event in the same transaction, so a
    deadline is reported exactly once.
    """
    rows = await conn.fetch(
        """
        SELECT * FROM cases
        WHERE first_contact_at IS NULL AND state <> 'closed' AND first_contact_due <= $1
          AND missed_due IS DISTINCT FROM first_contact_due
        ORDER BY first_contact_due
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [_case(r) for r in rows]


async def mark_missed(conn: DbConnection, signal_id: UUID, due: datetime) -> None:
    await conn.execute("UPDATE cases SET missed_due = $2 WHERE signal_id = $1", signal_id, due)


async def mark_reviewed(conn: DbConnection, signal_id: UUID, at: datetime) -> None:
    """A coordinator decided (confirmed or changed): a possible-acute review is done."""
    await conn.execute(
        "UPDATE cases SET reviewed_at = $2 WHERE signal_id = $1 AND reviewed_at IS NULL",
        signal_id,
        at,
    )


async def claim_review_missed(conn: DbConnection, now: datetime, limit: int) -> list[Case]:
    """Possible-acute cases nobody reviewed by their review deadline, not yet reported (claimed
    with `SKIP LOCKED` like `claim_missed`: reported once, whatever the number of replicas)."""
    rows = await conn.fetch(
        """
        SELECT * FROM cases
        WHERE review_due <= $1 AND reviewed_at IS NULL AND NOT review_missed_reported
          AND state <> 'closed'
        ORDER BY review_due
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [_case(r) for r in rows]


async def mark_review_missed(conn: DbConnection, signal_id: UUID) -> None:
    await conn.execute(
        "UPDATE cases SET review_missed_reported = true WHERE signal_id = $1", signal_id
    )


async def erase_case(conn: DbConnection, signal_id: UUID) -> bool:
    """A person was erased: the case, its decisions (with their sealed reasons), its steps (with
    their sealed notes), its lock and the published copies of its events go. True when there
    was a case. Counts stay in the metrics service, which keeps no personal data."""
    await conn.execute("DELETE FROM edit_locks WHERE signal_id = $1", signal_id)
    await conn.execute("DELETE FROM steps WHERE signal_id = $1", signal_id)
    await conn.execute("DELETE FROM decisions WHERE signal_id = $1", signal_id)
    await conn.execute(
        "DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL", str(signal_id)
    )
    deleted = await conn.execute("DELETE FROM cases WHERE signal_id = $1", signal_id)
    await conn.execute(
        "INSERT INTO erased_signals (signal_id) VALUES ($1) ON CONFLICT DO NOTHING", signal_id
    )
    return deleted != "DELETE 0"


async def was_erased(conn: DbConnection, signal_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM erased_signals WHERE signal_id = $1", signal_id)
    )
