"""The SQL of the metrics service: one idempotent write per kind of event (and its form for a
batch of events: one statement per table), and the aggregates the Prometheus metrics are
computed from.

Every write is keyed by what the event is about (a signal, a decision, a message's status), so a
redelivered or replayed event is a no-op even without the inbox; the inbox keeps that cheap.
Events of different topics may arrive in any order (each topic has its own subscriber): a row
only records what its own event says, and the aggregates join them when asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    DeadlineMissedV1,
    Envelope,
    ErasureScope,
    MatchUpdatedV1,
    NotificationV1,
    OfferGapV1,
    PartnerSignalRejectedV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    ReferralUpdatedV1,
    SignalErasedV1,
    SignalReceivedV1,
    SignalTriagedV1,
)
from signaalpunt_runtime.database import DbConnection

from .domain import (
    ACUTE_PICK_UP,
    CaseRow,
    Goal,
    is_first_contact,
    keep_first,
    merge_case_steps,
    partner_type,
)

Rows = list[asyncpg.Record]

# -- writes (one per topic) -------------------------------------------------------------------


ERASURE_LOCK = 17_017
"""The advisory locks' first key for a signal's erasure (the second: the id's hash)."""


async def _linkable(conn: DbConnection, signal_id: UUID) -> UUID:
    """The id to record an event under: the signal's own, or a random one when the signal was
    erased before the event arrived (it still counts, but links to nobody).

    An erasure applied at the same moment by another consumer would otherwise slip between
    the two: this transaction not seeing its tombstone, its anonymising UPDATE not seeing this
    row. So writers take the signal's lock shared (they never wait for each other) and the
    erasure takes it exclusively: whichever comes second waits for the first to commit, and
    its next statement sees what the first did."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext($2))", ERASURE_LOCK, str(signal_id)
    )
    erased = await conn.fetchval("SELECT true FROM erased_signals WHERE signal_id = $1", signal_id)
    return uuid4() if erased else signal_id


async def record_received(conn: DbConnection, event: Envelope[SignalReceivedV1]) -> None:
    s = event.data
    await conn.execute(
        "INSERT INTO signals_received (signal_id, municipality, channel, partner_type,"
        " received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        await _linkable(conn, s.signal_id),
        event.municipality,
        s.channel.value,
        partner_type(s),
        s.received_at,
    )


async def record_triaged(conn: DbConnection, event: Envelope[SignalTriagedV1]) -> None:
    d = event.data
    await conn.execute(
        "INSERT INTO triage_decisions (signal_id, decision, municipality, channel, route,"
        " priority, risk_groups, decided_by, first_contact_due, received_at, decided_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        await _linkable(conn, d.signal_id),
        d.decision,
        event.municipality,
        d.channel.value,
        d.route.value,
        d.priority.value,
        [g.value for g in d.risk_groups],
        d.decided_by.value,
        d.first_contact_due,
        d.received_at,
        d.decided_at,
    )


async def record_step(conn: DbConnection, event: Envelope[CaseStepRecordedV1]) -> None:
    """The latest step (by recorded_at) sets the state; the earliest contact step is first
    contact. A late or replayed step never moves a case backwards."""
    s = event.data
    contact = is_first_contact(s.step)
    await conn.execute(
        """
        INSERT INTO cases AS c (signal_id, municipality, state, state_at, received_at,
                                first_contact_at, first_contact_route)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (signal_id) DO UPDATE SET
            state = CASE WHEN EXCLUDED.state_at >= c.state_at THEN EXCLUDED.state
                         ELSE c.state END,
            state_at = GREATEST(c.state_at, EXCLUDED.state_at),
            first_contact_route = CASE
                WHEN EXCLUDED.first_contact_at IS NOT NULL
                     AND (c.first_contact_at IS NULL
                          OR EXCLUDED.first_contact_at < c.first_contact_at)
                THEN EXCLUDED.first_contact_route ELSE c.first_contact_route END,
            first_contact_at = LEAST(c.first_contact_at, EXCLUDED.first_contact_at)
        """,
        await _linkable(conn, s.signal_id),
        event.municipality,
        s.state.value,
        s.recorded_at,
        s.received_at,
        s.recorded_at if contact else None,
        s.route.value if contact else None,
    )


async def record_deadline_missed(conn: DbConnection, event: Envelope[DeadlineMissedV1]) -> None:
    m = event.data
    await conn.execute(
        "INSERT INTO deadlines_missed (signal_id, first_contact_due, municipality, route,"
        " priority, detected_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        await _linkable(conn, m.signal_id),
        m.first_contact_due,
        event.municipality,
        m.route.value,
        m.priority.value,
        m.detected_at,
    )


async def record_acute_alert(conn: DbConnection, event: Envelope[AcuteSignalAlertV1]) -> None:
    await conn.execute(
        "INSERT INTO acute_alerts (signal_id, municipality, raised_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        await _linkable(conn, event.data.signal_id),
        event.municipality,
        event.data.raised_at,
    )


async def record_possible_acute_alert(
    conn: DbConnection, event: Envelope[PossibleAcuteAlertV1]
) -> None:
    await conn.execute(
        "INSERT INTO possible_acute_alerts (signal_id, municipality, raised_at)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        await _linkable(conn, event.data.signal_id),
        event.municipality,
        event.data.raised_at,
    )


async def record_review_missed(
    conn: DbConnection, event: Envelope[PossibleAcuteReviewMissedV1]
) -> None:
    await conn.execute(
        "INSERT INTO possible_acute_reviews_missed (signal_id, municipality, detected_at)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        await _linkable(conn, event.data.signal_id),
        event.municipality,
        event.data.detected_at,
    )


async def record_notification(conn: DbConnection, event: Envelope[NotificationV1]) -> None:
    n = event.data
    await conn.execute(
        "INSERT INTO notification_outcomes (notification_id, status, municipality, template,"
        " channel, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        n.notification_id,
        n.status.value,
        event.municipality,
        n.template,
        n.channel.value,
        n.at,
    )


async def record_rejection(conn: DbConnection, event: Envelope[PartnerSignalRejectedV1]) -> None:
    r = event.data
    await conn.execute(
        "INSERT INTO partner_rejections (partner, partner_event_id, municipality, reason,"
        " rejected_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        r.partner,
        r.partner_event_id,
        event.municipality,
        r.reason,
        r.rejected_at,
    )


async def record_referral(conn: DbConnection, event: Envelope[ReferralUpdatedV1]) -> None:
    r = event.data
    await conn.execute(
        "INSERT INTO referral_changes (referral_id, version, signal_id, municipality, status,"
        " escalated, at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        r.referral_id,
        r.version,
        await _linkable(conn, r.signal_id),
        event.municipality,
        r.status.value,
        r.escalated,
        r.changed_at,
    )


async def record_match(conn: DbConnection, event: Envelope[MatchUpdatedV1]) -> None:
    m = event.data
    await conn.execute(
        "INSERT INTO match_changes (match_request_id, attempt, version, status, signal_id,"
        " municipality, failed_constraint, at, requested_at, need)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        m.match_request_id,
        m.attempt,
        m.version,
        m.status.value,
        await _linkable(conn, m.signal_id),
        event.municipality,
        m.failed_constraint.value if m.failed_constraint else None,
        m.changed_at,
        m.requested_at,
        m.needs[0].value if m.needs else None,  # the first-named need, as referral ranks it
    )


async def record_gap(conn: DbConnection, event: Envelope[OfferGapV1]) -> None:
    g = event.data
    await conn.execute(
        "INSERT INTO referral_gaps (signal_id, need, municipality, reason, detected_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        await _linkable(conn, g.signal_id),
        g.need.value,
        event.municipality,
        g.reason.value,
        g.detected_at,
    )


# -- durations (histograms computed in SQL) ---------------------------------------------------

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class Duration:
    """One duration histogram: a query yielding its label columns and `seconds` per fact.

    A later duration (triaged → referral accepted) is one more entry in DURATIONS, once a
    migration and a handler keep its two moments (docs/metrics.md).
    """

    name: str
    documentation: str
    labels: tuple[str, ...]
    source: str
    buckets: tuple[float, ...]


DURATIONS: tuple[Duration, ...] = (
    Duration(
        name="signaalpunt_signal_time_to_triage_seconds",
        documentation="From receiving a signal to the rules' triage decision",
        labels=("channel",),
        source="SELECT channel,"
        " GREATEST(0, EXTRACT(EPOCH FROM decided_at - received_at))::float8 AS seconds"
        " FROM triage_decisions WHERE decision = 1",
        buckets=(10, MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 4 * HOUR, DAY, 3 * DAY, 7 * DAY),
    ),
    Duration(
        name="signaalpunt_signal_time_to_first_contact_seconds",
        documentation="From receiving a signal to first contact (reporter contacted or intake)",
        labels=("route",),
        source="SELECT first_contact_route AS route,"
        " GREATEST(0, EXTRACT(EPOCH FROM first_contact_at - received_at))::float8 AS seconds"
        " FROM cases WHERE first_contact_at IS NOT NULL",
        buckets=(HOUR, 4 * HOUR, 8 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY),
    ),
    Duration(
        name="signaalpunt_match_time_to_active_seconds",
        documentation="From a volunteer match requested to the match active (the first meeting)",
        labels=("need",),
        # per request: its first change to active; requested_at from any of its events (an
        # event from before the field: the request's first change, when matching took it up).
        # The events come in any order across partitions, so every moment is a min() over all.
        source="SELECT need, GREATEST(0, EXTRACT(EPOCH FROM active_at - requested_at))::float8"
        " AS seconds FROM (SELECT min(need) AS need,"
        " coalesce(min(requested_at), min(at)) AS requested_at,"
        " min(at) FILTER (WHERE status = 'active') AS active_at"
        " FROM match_changes GROUP BY match_request_id) AS r WHERE active_at IS NOT NULL",
        buckets=(HOUR, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 56 * DAY),
    ),
)


async def histogram(conn: DbConnection, duration: Duration) -> Rows:
    """Per label set: cumulative count per bucket bound (`le`), total count and sum.

    Each fact is counted once, in its bucket (`k`: how many bounds it stays within), and only
    the few (label set, k) groups meet the bounds: joining every fact with every bound cost a
    refresh 0.4 s at 100,000 signals. `width_bucket` over the negated bounds counts the bounds
    `le` with seconds <= le, the inclusive upper bound Prometheus means."""
    labels = ", ".join(duration.labels)
    bounds = sorted(duration.buckets)
    return await conn.fetch(
        f"""
        WITH counted AS (
            SELECT {labels}, width_bucket(-d.seconds, $2::float8[]) AS k, count(*) AS n,
                   sum(d.seconds) AS s
            FROM ({duration.source}) AS d GROUP BY {labels}, k
        )
        SELECT {labels}, b.le,
               coalesce(sum(c.n) FILTER (WHERE c.k >= $3 - b.i + 1), 0)::bigint AS cumulative,
               sum(c.n)::bigint AS count, coalesce(sum(c.s), 0)::float8 AS sum
        FROM counted AS c CROSS JOIN unnest($1::float8[]) WITH ORDINALITY AS b(le, i)
        GROUP BY {labels}, b.le ORDER BY {labels}, b.le
        """,  # noqa: S608 - the fragments are constants of this module, not input
        bounds,
        [-b for b in reversed(bounds)],
        len(bounds),
    )


# -- aggregates -------------------------------------------------------------------------------


async def received(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, channel, partner_type, count(*) AS n FROM signals_received"
        " GROUP BY 1, 2, 3"
    )


async def received_per_period(
    conn: DbConnection, kind: str, time_zone: str, since: datetime, until: datetime
) -> Rows:
    """Signals per period of `kind` (day, week: ISO from Monday, month) in the local calendar of
    `time_zone`, received in [since, until)."""
    return await conn.fetch(
        "SELECT date_trunc($1, received_at AT TIME ZONE $2)::date AS start, municipality,"
        " channel, partner_type, count(*) AS n FROM signals_received"
        " WHERE received_at >= $3 AND received_at < $4 GROUP BY 1, 2, 3, 4",
        kind,
        time_zone,
        since,
        until,
    )


async def first_decisions(conn: DbConnection) -> Rows:
    """Signals by the rules' decision: a counter that never moves between label sets."""
    return await conn.fetch(
        "SELECT municipality, route, priority, count(*) AS n FROM triage_decisions"
        " WHERE decision = 1 GROUP BY 1, 2, 3"
    )


async def first_risk_groups(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, g AS risk_group, count(*) AS n"
        " FROM triage_decisions, unnest(risk_groups) AS g WHERE decision = 1 GROUP BY 1, 2"
    )


async def current_routes(conn: DbConnection) -> Rows:
    """Signals by their latest decision (after coordinators' changes): a gauge. A decision is
    the latest when no coordinator's change (decision > 1) of the same signal follows it; only
    those few changes are looked up, not every signal's decisions sorted."""
    return await conn.fetch(
        "SELECT municipality, route, count(*) AS n FROM triage_decisions AS t"
        " WHERE NOT EXISTS (SELECT 1 FROM triage_decisions AS later WHERE later.decision > 1"
        " AND later.signal_id = t.signal_id AND later.decision > t.decision) GROUP BY 1, 2"
    )


async def decisions(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, decided_by, count(*) AS n FROM triage_decisions GROUP BY 1, 2"
    )


async def overrides(conn: DbConnection) -> Rows:
    """Coordinator changes of a decision (every decision after the first), by the new route."""
    return await conn.fetch(
        "SELECT municipality, route, count(*) AS n FROM triage_decisions"
        " WHERE decision > 1 GROUP BY 1, 2"
    )


async def open_by_state(conn: DbConnection) -> Rows:
    """Every signal known from any topic that is not closed, by state. Before its first case
    step a signal is 'triaged' when a decision exists, else 'received'. Each signal is counted
    from one place (its case, else its decisions, else its receipt), so no union of every
    signal known has to be sorted."""
    return await conn.fetch(
        """
        SELECT municipality, state, count(*) AS n FROM (
            SELECT municipality, state FROM cases WHERE state <> 'closed'
            UNION ALL
            SELECT min(municipality), 'triaged' FROM triage_decisions AS t
            WHERE NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.signal_id = t.signal_id)
            GROUP BY signal_id
            UNION ALL
            SELECT municipality, 'received' FROM signals_received AS r
            WHERE NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.signal_id = r.signal_id)
              AND NOT EXISTS (SELECT 1 FROM triage_decisions AS t WHERE t.signal_id = r.signal_id)
        ) AS open GROUP BY 1, 2
        """
    )


async def overdue(conn: DbConnection, now: datetime) -> Rows:
    """Open signals past their (latest) first-contact deadline without first contact. Signals
    whose case has first contact or is closed drop out before their latest decision is found."""
    return await conn.fetch(
        """
        SELECT t.municipality, t.route, t.priority, count(*) AS n
        FROM triage_decisions AS t
        WHERE NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.signal_id = t.signal_id
                          AND (c.first_contact_at IS NOT NULL OR c.state = 'closed'))
          AND NOT EXISTS (SELECT 1 FROM triage_decisions AS later WHERE later.decision > 1
                          AND later.signal_id = t.signal_id AND later.decision > t.decision)
          AND (t.first_contact_due < $1
               OR EXISTS (SELECT 1 FROM deadlines_missed m WHERE m.signal_id = t.signal_id))
        GROUP BY 1, 2, 3
        """,
        now,
    )


async def deadlines_missed(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, route, priority, count(*) AS n FROM deadlines_missed GROUP BY 1, 2, 3"
    )


async def possible_acute(conn: DbConnection) -> Rows:
    """Per municipality: possible-acute alerts raised and reviews not done in time."""
    return await conn.fetch(
        """
        SELECT municipality, sum(alerts) AS alerts, sum(missed) AS missed
        FROM (SELECT municipality, 1 AS alerts, 0 AS missed FROM possible_acute_alerts
              UNION ALL
              SELECT municipality, 0, 1 FROM possible_acute_reviews_missed) AS both_kinds
        GROUP BY 1
        """
    )


async def acute_alerts(conn: DbConnection, now: datetime) -> Rows:
    """Per municipality: alerts, those picked up (first contact) within the hour, those still
    waiting, and how long the oldest has waited (0 when none waits)."""
    return await conn.fetch(
        """
        SELECT a.municipality, count(*) AS total,
               count(*) FILTER (WHERE c.first_contact_at <= a.raised_at + $2) AS picked_up,
               count(*) FILTER (WHERE c.first_contact_at IS NULL
                                  AND coalesce(c.state, '') <> 'closed') AS waiting,
               coalesce(max(EXTRACT(EPOCH FROM $1 - a.raised_at))
                        FILTER (WHERE c.first_contact_at IS NULL
                                  AND coalesce(c.state, '') <> 'closed'), 0)::float8
                   AS oldest_wait
        FROM acute_alerts AS a LEFT JOIN cases AS c USING (signal_id)
        GROUP BY 1
        """,
        now,
        ACUTE_PICK_UP,
    )


async def notifications(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, template, channel, status, count(*) AS n"
        " FROM notification_outcomes GROUP BY 1, 2, 3, 4"
    )


async def rejections(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, reason, count(*) AS n FROM partner_rejections GROUP BY 1, 2"
    )


async def referrals(conn: DbConnection) -> Rows:
    """Referrals per status they reached (escalations apart: they keep their status)."""
    return await conn.fetch(
        "SELECT municipality, status, count(DISTINCT referral_id) AS n FROM referral_changes"
        " WHERE NOT escalated GROUP BY 1, 2"
    )


async def referral_escalations(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, count(*) AS n FROM referral_changes WHERE escalated GROUP BY 1"
    )


async def offer_gaps(conn: DbConnection) -> Rows:
    return await conn.fetch(
        "SELECT municipality, need, reason, count(*) AS n FROM referral_gaps GROUP BY 1, 2, 3"
    )


async def volunteer_matches(conn: DbConnection) -> Rows:
    """Matches (one per volunteer asked) per status they reached; unmatched requests apart."""
    return await conn.fetch(
        "SELECT municipality, status, count(DISTINCT (match_request_id, attempt)) AS n"
        " FROM match_changes WHERE status <> 'unmatched' GROUP BY 1, 2"
    )


async def unmatched_requests(conn: DbConnection) -> Rows:
    """Requests that found no volunteer, by the constraint that ruled out most volunteers."""
    return await conn.fetch(
        'SELECT municipality, failed_constraint AS "constraint",'
        " count(DISTINCT match_request_id) AS n"
        " FROM match_changes WHERE status = 'unmatched' GROUP BY 1, 2"
    )


async def goal_counts(conn: DbConnection, goal: Goal) -> tuple[int, int]:
    """Signals matching the goal's filters in its baseline and in its measurement period."""
    counts: list[int] = []
    for period in (goal.baseline, goal.period):
        n = await conn.fetchval(
            "SELECT count(*) FROM signals_received WHERE received_at >= $1 AND received_at < $2"
            " AND (cardinality($3::text[]) = 0 OR municipality = ANY($3))"
            " AND (cardinality($4::text[]) = 0 OR channel = ANY($4))"
            " AND (cardinality($5::text[]) = 0 OR partner_type = ANY($5))",
            period.start_at(),
            period.until_at(),
            list(goal.municipalities),
            list(goal.channels),
            list(goal.partner_types),
        )
        counts.append(int(n))
    return counts[0], counts[1]


def label_values(row: asyncpg.Record, labels: Sequence[str]) -> list[str]:
    return [str(row[label]) if row[label] is not None else "unknown" for label in labels]


def as_float(value: Any) -> float:
    return float(value or 0)


_SIGNAL_TABLES = (
    "signals_received",
    "triage_decisions",
    "cases",
    "deadlines_missed",
    "acute_alerts",
    "possible_acute_alerts",
    "possible_acute_reviews_missed",
    "referral_changes",
    "referral_gaps",
    "match_changes",
)


async def record_erasure(conn: DbConnection, event: Envelope[SignalErasedV1]) -> None:
    """A person was erased: the counts stay, but nothing links them to the signal any more (its
    id becomes a random one, the same in every read model). A reporter erased alone changes
    nothing here: no read model holds anything of the reporter."""
    if event.data.scope is not ErasureScope.PERSON:
        return
    # writers recording an event about this signal at this moment finish first (_linkable)
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", ERASURE_LOCK, str(event.data.signal_id)
    )
    # a later event about the signal (a withdrawal because of this erasure) must not link again
    await conn.execute(
        "INSERT INTO erased_signals (signal_id) VALUES ($1) ON CONFLICT DO NOTHING",
        event.data.signal_id,
    )
    anonymous = uuid4()
    for table in _SIGNAL_TABLES:
        await conn.execute(
            f"UPDATE {table} SET signal_id = $2 WHERE signal_id = $1",  # noqa: S608 - a constant
            event.data.signal_id,
            anonymous,
        )


# -- writes in batches (one statement per table) -----------------------------------------------
#
# What the live consumers (`as_list`) and the rebuild use: the new events of one topic, in the
# order the topic gave them, written with one statement per table. They give exactly the rows
# the one-event forms above give when applied one by one in that order: where two events of a
# batch meet in one row they are merged first (domain.keep_first, domain.merge_case_steps), so
# no statement meets its own rows. The one-event forms stay the reference (the tests compare
# the two).

Events = Sequence[Envelope[Any]]


async def _linkables(conn: DbConnection, signal_ids: Sequence[UUID]) -> list[UUID]:
    """`_linkable` for a batch: the shared locks in one statement, in the order of their keys
    (as `record_erasure_batch` takes its exclusive ones, so a batch of writers and a batch of
    erasures never wait for each other in a circle), the tombstones in one; each event of an
    erased signal gets a random id of its own, as one by one."""
    if not signal_ids:
        return []
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared($1, k)"
        " FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest($2::text[]) AS s) AS keys"
        " ORDER BY k",
        ERASURE_LOCK,
        [str(s) for s in signal_ids],
    )
    erased = {
        row["signal_id"]
        for row in await conn.fetch(
            "SELECT signal_id FROM erased_signals WHERE signal_id = ANY($1::uuid[])",
            list(set(signal_ids)),
        )
    }
    return [uuid4() if s in erased else s for s in signal_ids]


async def _insert(
    conn: DbConnection,
    table: str,
    columns: dict[str, str],
    rows: Iterable[tuple[Any, ...]],
    *,
    key: int = 1,
) -> None:
    """INSERT … SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING. `columns`: each
    column and its type, the key's (`key` columns) first; a key repeated in `rows` keeps its
    first row, as one INSERT per event would."""
    kept = keep_first(rows, key)
    if not kept:
        return
    names = ", ".join(columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(columns.values(), start=1))
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 - constants
        " ON CONFLICT DO NOTHING",
        *([row[i] for row in kept] for i in range(len(columns))),
    )


async def record_received_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "signals_received",
        {
            "signal_id": "uuid",
            "municipality": "text",
            "channel": "text",
            "partner_type": "text",
            "received_at": "timestamptz",
        },
        (
            (sid, e.municipality, e.data.channel.value, partner_type(e.data), e.data.received_at)
            for sid, e in zip(ids, events, strict=True)
        ),
    )


async def record_triaged_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    rows = keep_first(
        (
            (
                sid,
                e.data.decision,
                e.municipality,
                e.data.channel.value,
                e.data.route.value,
                e.data.priority.value,
                # a text[] per row: unnest flattens an array of arrays, so as JSON
                json.dumps([g.value for g in e.data.risk_groups]),
                e.data.decided_by.value,
                e.data.first_contact_due,
                e.data.received_at,
                e.data.decided_at,
            )
            for sid, e in zip(ids, events, strict=True)
        ),
        key=2,
    )
    if not rows:
        return
    await conn.execute(
        "INSERT INTO triage_decisions (signal_id, decision, municipality, channel, route,"
        " priority, risk_groups, decided_by, first_contact_due, received_at, decided_at)"
        " SELECT s, n, m, c, r, p, ARRAY(SELECT jsonb_array_elements_text(g::jsonb)), b, due,"
        " rec, dec FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],"
        " $11::timestamptz[]) AS u(s, n, m, c, r, p, g, b, due, rec, dec)"
        " ON CONFLICT DO NOTHING",
        *([row[i] for row in rows] for i in range(11)),
    )


async def record_step_batch(conn: DbConnection, events: Events) -> None:
    """Each signal's steps in the batch merged into one row first (merge_case_steps), then one
    upsert with record_step's rules against the row already stored."""
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    rows = merge_case_steps(
        CaseRow(
            signal_id=sid,
            municipality=e.municipality,
            state=e.data.state.value,
            state_at=e.data.recorded_at,
            received_at=e.data.received_at,
            first_contact_at=e.data.recorded_at if is_first_contact(e.data.step) else None,
            first_contact_route=e.data.route.value if is_first_contact(e.data.step) else None,
        )
        for sid, e in zip(ids, events, strict=True)
    )
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO cases AS c (signal_id, municipality, state, state_at, received_at,
                                first_contact_at, first_contact_route)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                             $5::timestamptz[], $6::timestamptz[], $7::text[])
        ON CONFLICT (signal_id) DO UPDATE SET
            state = CASE WHEN EXCLUDED.state_at >= c.state_at THEN EXCLUDED.state
                         ELSE c.state END,
            state_at = GREATEST(c.state_at, EXCLUDED.state_at),
            first_contact_route = CASE
                WHEN EXCLUDED.first_contact_at IS NOT NULL
                     AND (c.first_contact_at IS NULL
                          OR EXCLUDED.first_contact_at < c.first_contact_at)
                THEN EXCLUDED.first_contact_route ELSE c.first_contact_route END,
            first_contact_at = LEAST(c.first_contact_at, EXCLUDED.first_contact_at)
        """,
        [r.signal_id for r in rows],
        [r.municipality for r in rows],
        [r.state for r in rows],
        [r.state_at for r in rows],
        [r.received_at for r in rows],
        [r.first_contact_at for r in rows],
        [r.first_contact_route for r in rows],
    )


async def record_deadline_missed_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "deadlines_missed",
        {
            "signal_id": "uuid",
            "first_contact_due": "timestamptz",
            "municipality": "text",
            "route": "text",
            "priority": "text",
            "detected_at": "timestamptz",
        },
        (
            (
                sid,
                e.data.first_contact_due,
                e.municipality,
                e.data.route.value,
                e.data.priority.value,
                e.data.detected_at,
            )
            for sid, e in zip(ids, events, strict=True)
        ),
        key=2,
    )


_SIGNAL_AT = {"signal_id": "uuid", "municipality": "text"}


async def record_acute_alert_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "acute_alerts",
        {**_SIGNAL_AT, "raised_at": "timestamptz"},
        ((sid, e.municipality, e.data.raised_at) for sid, e in zip(ids, events, strict=True)),
    )


async def record_possible_acute_alert_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "possible_acute_alerts",
        {**_SIGNAL_AT, "raised_at": "timestamptz"},
        ((sid, e.municipality, e.data.raised_at) for sid, e in zip(ids, events, strict=True)),
    )


async def record_review_missed_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "possible_acute_reviews_missed",
        {**_SIGNAL_AT, "detected_at": "timestamptz"},
        ((sid, e.municipality, e.data.detected_at) for sid, e in zip(ids, events, strict=True)),
    )


async def record_notification_batch(conn: DbConnection, events: Events) -> None:
    await _insert(
        conn,
        "notification_outcomes",
        {
            "notification_id": "uuid",
            "status": "text",
            "municipality": "text",
            "template": "text",
            "channel": "text",
            "at": "timestamptz",
        },
        (
            (
                e.data.notification_id,
                e.data.status.value,
                e.municipality,
                e.data.template,
                e.data.channel.value,
                e.data.at,
            )
            for e in events
        ),
        key=2,
    )


async def record_rejection_batch(conn: DbConnection, events: Events) -> None:
    await _insert(
        conn,
        "partner_rejections",
        {
            "partner": "text",
            "partner_event_id": "text",
            "municipality": "text",
            "reason": "text",
            "rejected_at": "timestamptz",
        },
        (
            (
                e.data.partner,
                e.data.partner_event_id,
                e.municipality,
                e.data.reason,
                e.data.rejected_at,
            )
            for e in events
        ),
        key=2,
    )


async def record_referral_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "referral_changes",
        {
            "referral_id": "uuid",
            "version": "int",
            "signal_id": "uuid",
            "municipality": "text",
            "status": "text",
            "escalated": "boolean",
            "at": "timestamptz",
        },
        (
            (
                e.data.referral_id,
                e.data.version,
                sid,
                e.municipality,
                e.data.status.value,
                e.data.escalated,
                e.data.changed_at,
            )
            for sid, e in zip(ids, events, strict=True)
        ),
        key=2,
    )


async def record_match_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "match_changes",
        {
            "match_request_id": "uuid",
            "attempt": "int",
            "version": "int",
            "status": "text",
            "signal_id": "uuid",
            "municipality": "text",
            "failed_constraint": "text",
            "at": "timestamptz",
            "requested_at": "timestamptz",
            "need": "text",
        },
        (
            (
                m.match_request_id,
                m.attempt,
                m.version,
                m.status.value,
                sid,
                e.municipality,
                m.failed_constraint.value if m.failed_constraint else None,
                m.changed_at,
                m.requested_at,
                m.needs[0].value if m.needs else None,  # as record_match
            )
            for sid, e in zip(ids, events, strict=True)
            for m in (e.data,)
        ),
        key=4,
    )


async def record_gap_batch(conn: DbConnection, events: Events) -> None:
    ids = await _linkables(conn, [e.data.signal_id for e in events])
    await _insert(
        conn,
        "referral_gaps",
        {
            "signal_id": "uuid",
            "need": "text",
            "municipality": "text",
            "reason": "text",
            "detected_at": "timestamptz",
        },
        (
            (sid, e.data.need.value, e.municipality, e.data.reason.value, e.data.detected_at)
            for sid, e in zip(ids, events, strict=True)
        ),
        key=2,
    )


async def record_erasure_batch(conn: DbConnection, events: Events) -> None:
    """record_erasure for a batch: the locks of its signals taken in the order of their keys
    (as `_linkables` takes its shared ones), the tombstones in one statement, and one UPDATE
    per read model that gives each erased signal's rows a random id of their own. A signal
    erased twice in the batch: the second finds nothing left under its id, as one by one."""
    people = keep_first(
        (e.data.signal_id, uuid4()) for e in events if e.data.scope is ErasureScope.PERSON
    )
    if not people:
        return
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, k)"
        " FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest($2::text[]) AS s) AS keys"
        " ORDER BY k",
        ERASURE_LOCK,
        [str(signal_id) for signal_id, _ in people],
    )
    await _insert(conn, "erased_signals", {"signal_id": "uuid"}, [(s,) for s, _ in people])
    erased = [signal_id for signal_id, _ in people]
    anonymous = [anon for _, anon in people]
    for table in _SIGNAL_TABLES:
        await conn.execute(
            f"UPDATE {table} AS t SET signal_id = m.anonymous"  # noqa: S608 - a constant
            " FROM unnest($1::uuid[], $2::uuid[]) AS m(erased, anonymous)"
            " WHERE t.signal_id = m.erased",
            erased,
            anonymous,
        )
