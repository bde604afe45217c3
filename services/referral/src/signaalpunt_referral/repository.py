"""Referral's SQL: the social map, help questions, referrals and their history, route settings,
gaps, offer evaluation and the organisations' callbacks."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from signaalpunt_contracts import HelpQuestion, Need, ReferralChannel, ReferralStatus, RiskGroup
from signaalpunt_runtime.database import DbConnection

from .hsds import MapOrganisation, MapService, organisation_document, with_live_state
from .ranking import Coverage, Delivery, Offer, ServiceStatus

# -- the social map ------------------------------------------------------------------------------


async def upsert_organisation(conn: DbConnection, organisation: MapOrganisation) -> None:
    await conn.execute(
        """
        INSERT INTO organisations (organisation_id, name, email, document)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (organisation_id) DO UPDATE SET
            name = EXCLUDED.name, email = EXCLUDED.email, document = EXCLUDED.document,
            updated_at = now()
        """,
        organisation.organisation_id,
        organisation.name,
        organisation.email,
        organisation.document,
    )


async def upsert_services(conn: DbConnection, services: Sequence[MapService]) -> None:
    await conn.executemany(
        """
        INSERT INTO services (service_id, organisation_id, name, status, areas, needs, languages,
                              target_groups, delivery, min_age, max_age, open_places,
                              capacity_total, lat, lon, channel, email, document)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        ON CONFLICT (service_id) DO UPDATE SET
            organisation_id = EXCLUDED.organisation_id, name = EXCLUDED.name,
            status = EXCLUDED.status, areas = EXCLUDED.areas, needs = EXCLUDED.needs,
            languages = EXCLUDED.languages, target_groups = EXCLUDED.target_groups,
            delivery = EXCLUDED.delivery, min_age = EXCLUDED.min_age, max_age = EXCLUDED.max_age,
            open_places = EXCLUDED.open_places, capacity_total = EXCLUDED.capacity_total,
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, channel = EXCLUDED.channel,
            email = EXCLUDED.email, document = EXCLUDED.document, updated_at = now()
        """,
        [
            (
                s.offer.service_id,
                s.offer.organisation_id,
                s.offer.name,
                s.offer.status.value,
                sorted(s.offer.areas),
                sorted(n.value for n in s.offer.needs),
                sorted(s.offer.languages),
                sorted(g.value for g in s.offer.target_groups),
                sorted(d.value for d in s.offer.delivery),
                s.offer.min_age,
                s.offer.max_age,
                s.offer.open_places,
                s.capacity_total,
                s.offer.lat,
                s.offer.lon,
                s.channel.value,
                s.email,
                s.document,
            )
            for s in services
        ],
    )


async def map_is_empty(conn: DbConnection) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM services)")


async def export_document(
    conn: DbConnection, municipalities: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Organisations (in import order of their ids) with their services, live status and places
    written back; only services serving one of `municipalities` when given."""
    rows = await conn.fetch(
        """
        SELECT o.organisation_id, o.document AS organisation, s.document, s.status, s.open_places
        FROM organisations o JOIN services s USING (organisation_id)
        WHERE $1::text[] IS NULL OR s.areas && $1::text[]
        ORDER BY o.organisation_id, s.service_id
        """,
        list(municipalities) if municipalities is not None else None,
    )
    grouped: dict[UUID, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for row in rows:
        entry = grouped.setdefault(row["organisation_id"], (row["organisation"], []))
        entry[1].append(
            with_live_state(row["document"], status=row["status"], open_places=row["open_places"])
        )
    return [organisation_document(org, services) for org, services in grouped.values()]


def _offer(row: Any) -> Offer:
    return Offer(
        service_id=row["service_id"],
        organisation_id=row["organisation_id"],
        name=row["name"],
        areas=frozenset(row["areas"]),
        status=ServiceStatus(row["status"]),
        needs=frozenset(Need(n) for n in row["needs"]),
        languages=frozenset(row["languages"]),
        open_places=row["open_places"],
        min_age=row["min_age"],
        max_age=row["max_age"],
        target_groups=frozenset(RiskGroup(g) for g in row["target_groups"]),
        delivery=frozenset(Delivery(d) for d in row["delivery"]),
        lat=row["lat"],
        lon=row["lon"],
    )


@dataclass(frozen=True)
class ServiceRow:
    offer: Offer
    channel: ReferralChannel
    email: str | None
    capacity_total: int | None


async def get_service(
    conn: DbConnection, service_id: UUID, *, for_update: bool = False
) -> ServiceRow | None:
    query = "SELECT * FROM services WHERE service_id = $1"
    row = await conn.fetchrow(f"{query} FOR UPDATE" if for_update else query, service_id)
    if row is None:
        return None
    return ServiceRow(
        offer=_offer(row),
        channel=ReferralChannel(row["channel"]),
        email=row["email"],
        capacity_total=row["capacity_total"],
    )


async def list_services(
    conn: DbConnection, municipalities: Sequence[str], *, need: str | None, limit: int, offset: int
) -> list[ServiceRow]:
    rows = await conn.fetch(
        """
        SELECT * FROM services
        WHERE areas && $1::text[] AND ($2::text IS NULL OR needs @> ARRAY[$2::text])
        ORDER BY name, service_id LIMIT $3 OFFSET $4
        """,
        list(municipalities),
        need,
        limit,
        offset,
    )
    return [
        ServiceRow(_offer(r), ReferralChannel(r["channel"]), r["email"], r["capacity_total"])
        for r in rows
    ]


async def set_service_state(
    conn: DbConnection,
    service_id: UUID,
    *,
    status: ServiceStatus | None,
    open_places: int | None,
    capacity_total: int | None,
) -> None:
    await conn.execute(
        """
        UPDATE services SET status = COALESCE($2, status),
            open_places = COALESCE($3, open_places),
            capacity_total = COALESCE($4, capacity_total), updated_at = now()
        WHERE service_id = $1
        """,
        service_id,
        status.value if status else None,
        open_places,
        capacity_total,
    )


async def set_webhook(
    conn: DbConnection, organisation_id: UUID, url: str | None, secret: str | None
) -> bool:
    done = await conn.execute(
        "UPDATE organisations SET webhook_url = $2, webhook_secret = $3, updated_at = now() "
        "WHERE organisation_id = $1",
        organisation_id,
        url,
        secret,
    )
    return done.endswith(" 1")


async def webhook_secret(conn: DbConnection, organisation_id: UUID) -> str | None:
    value = await conn.fetchval(
        "SELECT webhook_secret FROM organisations WHERE organisation_id = $1", organisation_id
    )
    return str(value) if value else None


# -- the ranking's pre-filter ------------------------------------------------------------------

# Every constraint of `ranking.constraint_failed` after area, status and need (those three are
# the indexed WHERE), in the same order; NULL when the offer is eligible. $3 age, $4 risk groups,
# $5 languages, $6 mobility; `km` is the distance to the person's neighbourhood.
_FAILED = """
    CASE
        WHEN $3::int IS NOT NULL AND ((min_age IS NOT NULL AND $3 < min_age)
                                      OR (max_age IS NOT NULL AND $3 > max_age)) THEN 'age'
        WHEN target_groups <> '{}' AND NOT target_groups && $4::text[] THEN 'target_group'
        WHEN languages <> '{}' AND NOT languages && $5::text[] THEN 'language'
        WHEN $6::text = 'housebound' AND NOT delivery && '{at_home,online}' THEN 'mobility'
        WHEN $6::text = 'needs_transport' AND NOT delivery && '{at_home,online}'
             AND km > $10::float8 THEN 'distance'
        WHEN open_places IS NOT NULL AND open_places <= 0 THEN 'capacity'
    END
"""


# `ranking._score` in SQL, so the cut to the best few happens before anything leaves the
# database; the ranking scores the few again in Python and gives the reasons. One CASE per need
# and risk group asked (the query's text differs only by their number: a few prepared
# statements), cheaper per offer than unnesting arrays. (LEAST skips a NULL, so an offer without
# a location or a limit would lose 3 or gain 0.5: hence the CASEs around it.)
def _score(needs: int, risk_groups: int) -> str:
    by_need = " + ".join(
        f"CASE WHEN ($2::text[])[{i}] = ANY(needs) THEN {11 - i}.0 ELSE 0.0 END"
        for i in range(1, needs + 1)
    )
    by_group = " + ".join(
        f"CASE WHEN ($4::text[])[{i}] = ANY(target_groups) THEN 3.0 ELSE 0.0 END"
        for i in range(1, risk_groups + 1)
    )
    return f"""
    {by_need or "0.0"} + {by_group or "0.0"}
    + CASE WHEN languages @> ($5::text[])[1:1] AND cardinality($5::text[]) > 0 THEN 2.0
           WHEN languages && $5::text[] THEN 1.0 ELSE 0.0 END
    - CASE WHEN km IS NULL THEN 0.0 ELSE least(km, 30.0) / 10.0 END
    + CASE WHEN cardinality(areas) = 1 THEN 0.5 ELSE 0.0 END
    + CASE WHEN open_places IS NULL THEN 0.0 ELSE least(open_places, 10) / 20.0 END
    """


_HAVERSINE = """
    CASE WHEN $7::float8 IS NULL OR lat IS NULL OR lon IS NULL THEN NULL
         ELSE 2 * 6371.0 * asin(sqrt(
              power(sin(radians(lat - $7::float8) / 2), 2)
              + cos(radians($7::float8)) * cos(radians(lat))
                * power(sin(radians(lon - $8::float8) / 2), 2)))
    END
"""

_OFFER_COLUMNS = (
    "service_id, organisation_id, name, areas, status, needs, languages, open_places, "
    "min_age, max_age, target_groups, delivery, lat, lon"
)


@functools.cache
def candidates_query(needs: int, risk_groups: int) -> str:
    return f"""
    WITH fit AS (
        SELECT {_OFFER_COLUMNS}, {_HAVERSINE} AS km
        FROM services
        WHERE status = 'active' AND areas @> ARRAY[$1::text] AND needs && $2::text[]
    ), judged AS (
        SELECT fit.*, {_FAILED} AS failed FROM fit
    ), best AS (
        SELECT {_OFFER_COLUMNS} FROM judged
        WHERE failed IS NULL AND NOT service_id = ANY($9::uuid[])
        ORDER BY {_score(needs, risk_groups)} DESC, service_id
        LIMIT $11
    )
    SELECT
        (SELECT coalesce(sum(services) FILTER (WHERE status <> 'active'), 0)
         FROM area_counts WHERE municipality = $1::text) AS inactive,
        (SELECT coalesce(sum(services) FILTER (WHERE status = 'active'), 0)
         FROM area_counts WHERE municipality = $1::text) AS active,
        (SELECT count(*) FROM fit) AS serving,
        (SELECT coalesce(jsonb_object_agg(failed, n), '{{}}')
         FROM (SELECT failed, count(*) AS n FROM judged WHERE failed IS NOT NULL
               GROUP BY failed) c) AS ruled_out,
        ARRAY(SELECT DISTINCT unnest(needs) FROM judged WHERE failed IS NULL) AS met_open,
        ARRAY(SELECT DISTINCT unnest(needs) FROM judged WHERE failed = 'capacity') AS met_full,
        (SELECT coalesce(jsonb_agg(best), '[]') FROM best) AS best
"""  # noqa: S608 - constant fragments, every value is a parameter


@dataclass(frozen=True)
class Candidates:
    """What the SQL pre-filter hands the ranking: the best few eligible offers (in SQL's score
    order), how many offers each constraint ruled out over the whole map, and which needs some
    eligible offer with a place (or only a full one) meets, beyond the cut (for the gaps)."""

    offers: list[Offer]
    ruled_out: dict[str, int]
    coverage: Coverage


async def candidates(
    conn: DbConnection,
    *,
    municipality: str,
    needs: Sequence[str],
    age: int | None,
    risk_groups: Sequence[str],
    languages: Sequence[str],
    mobility: str,
    near: tuple[float, float] | None,
    exclude: Sequence[UUID],
    limit: int,
    max_km_with_transport: float,
) -> Candidates:
    """Every constraint judged and the score computed in SQL over the offers that serve the
    municipality and a need (one GIN index on areas and needs), cut to the best `limit`: what
    leaves the database does not grow with the map, only the index lookup and the counts do."""
    row = await conn.fetchrow(
        candidates_query(len(needs), len(risk_groups)),
        municipality,
        list(needs),
        age,
        list(risk_groups),
        list(languages),
        mobility,
        near[0] if near else None,
        near[1] if near else None,
        list(exclude),
        max_km_with_transport,
        limit,
    )
    assert row is not None
    ruled_out = {k: int(v) for k, v in dict(row["ruled_out"]).items()}
    if row["inactive"]:
        ruled_out["status"] = int(row["inactive"])
    if row["active"] - row["serving"]:
        ruled_out["need"] = int(row["active"] - row["serving"])
    return Candidates(
        offers=[_offer_of_json(o) for o in row["best"]],
        ruled_out=ruled_out,
        coverage=Coverage(
            met=frozenset(Need(n) for n in row["met_open"]),
            met_when_full=frozenset(Need(n) for n in row["met_full"]),
        ),
    )


def _offer_of_json(o: dict[str, Any]) -> Offer:
    return _offer(
        {
            **o,
            "service_id": UUID(o["service_id"]),
            "organisation_id": UUID(o["organisation_id"]),
        }
    )


# -- help questions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredQuestion:
    signal_id: UUID
    subject_id: UUID
    municipality: str
    route: str
    risk_groups: tuple[RiskGroup, ...]
    question: HelpQuestion
    recorded_at: datetime


async def save_help_question(
    conn: DbConnection,
    *,
    signal_id: UUID,
    subject_id: UUID,
    municipality: str,
    route: str,
    risk_groups: Sequence[RiskGroup],
    question: HelpQuestion,
    recorded_at: datetime,
    recorded_by: str,
) -> bool:
    """False when this help question (or a later one) is already stored: a replay."""
    row = await conn.fetchrow(
        """
        INSERT INTO help_questions AS h (signal_id, subject_id, municipality, route, risk_groups,
                                         question, recorded_at, recorded_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (signal_id) DO UPDATE SET
            route = EXCLUDED.route, risk_groups = EXCLUDED.risk_groups,
            question = EXCLUDED.question, recorded_at = EXCLUDED.recorded_at,
            recorded_by = EXCLUDED.recorded_by
        WHERE h.recorded_at < EXCLUDED.recorded_at
        RETURNING signal_id
        """,
        signal_id,
        subject_id,
        municipality,
        route,
        [g.value for g in risk_groups],
        question.model_dump(mode="json"),
        recorded_at,
        recorded_by,
    )
    return row is not None


async def set_ruled_out(conn: DbConnection, signal_id: UUID, ruled_out: dict[str, int]) -> None:
    await conn.execute(
        "UPDATE help_questions SET ruled_out = $2 WHERE signal_id = $1", signal_id, ruled_out
    )


async def ruled_out_of(conn: DbConnection, signal_id: UUID) -> dict[str, int]:
    value = await conn.fetchval(
        "SELECT ruled_out FROM help_questions WHERE signal_id = $1", signal_id
    )
    return dict(value or {})


async def referred_services(conn: DbConnection, signal_id: UUID) -> list[UUID]:
    rows = await conn.fetch("SELECT service_id FROM referrals WHERE signal_id = $1", signal_id)
    return [r["service_id"] for r in rows]


async def get_help_question(conn: DbConnection, signal_id: UUID) -> StoredQuestion | None:
    row = await conn.fetchrow("SELECT * FROM help_questions WHERE signal_id = $1", signal_id)
    if row is None:
        return None
    return StoredQuestion(
        signal_id=row["signal_id"],
        subject_id=row["subject_id"],
        municipality=row["municipality"],
        route=row["route"],
        risk_groups=tuple(RiskGroup(g) for g in row["risk_groups"]),
        question=HelpQuestion.model_validate(row["question"]),
        recorded_at=row["recorded_at"],
    )


# -- referrals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Referral:
    referral_id: UUID
    signal_id: UUID
    subject_id: UUID
    municipality: str
    service_id: UUID
    organisation_id: UUID
    service_name: str
    status: ReferralStatus
    version: int
    rank: int | None
    reasons: tuple[str, ...]
    needs: tuple[Need, ...]
    channel: ReferralChannel
    respond_by: datetime | None
    escalated_at: datetime | None
    decline_reason: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


def _referral(row: Any) -> Referral:
    return Referral(
        referral_id=row["referral_id"],
        signal_id=row["signal_id"],
        subject_id=row["subject_id"],
        municipality=row["municipality"],
        service_id=row["service_id"],
        organisation_id=row["organisation_id"],
        service_name=row["service_name"],
        status=ReferralStatus(row["status"]),
        version=row["version"],
        rank=row["rank"],
        reasons=tuple(row["reasons"]),
        needs=tuple(Need(n) for n in row["needs"]),
        channel=ReferralChannel(row["channel"]),
        respond_by=row["respond_by"],
        escalated_at=row["escalated_at"],
        decline_reason=row["decline_reason"],
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_referral(conn: DbConnection, r: Referral, changed_by: str) -> None:
    await conn.execute(
        """
        INSERT INTO referrals (referral_id, signal_id, subject_id, municipality, service_id,
                               organisation_id, service_name, status, version, rank, reasons,
                               needs, channel, respond_by, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
        """,
        r.referral_id,
        r.signal_id,
        r.subject_id,
        r.municipality,
        r.service_id,
        r.organisation_id,
        r.service_name,
        r.status.value,
        r.version,
        r.rank,
        list(r.reasons),
        [n.value for n in r.needs],
        r.channel.value,
        r.respond_by,
        r.created_at,
    )
    await _history(conn, r.referral_id, r.version, r.status, None, changed_by, r.created_at)


async def _history(  # noqa: PLR0917 - one history row's columns
    conn: DbConnection,
    referral_id: UUID,
    version: int,
    status: ReferralStatus,
    decline_reason: str | None,
    changed_by: str,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO referral_history (referral_id, version, status, decline_reason, changed_by,"
        " changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        referral_id,
        version,
        status.value,
        decline_reason,
        changed_by,
        at,
    )


async def get_referral(
    conn: DbConnection, referral_id: UUID, *, for_update: bool = False
) -> Referral | None:
    query = "SELECT * FROM referrals WHERE referral_id = $1"
    row = await conn.fetchrow(f"{query} FOR UPDATE" if for_update else query, referral_id)
    return _referral(row) if row else None


async def referrals_of(conn: DbConnection, signal_id: UUID) -> list[Referral]:
    rows = await conn.fetch(
        "SELECT * FROM referrals WHERE signal_id = $1 ORDER BY created_at, rank", signal_id
    )
    return [_referral(r) for r in rows]


async def referrals_to(
    conn: DbConnection, organisation_id: UUID, statuses: Sequence[str], limit: int
) -> list[Referral]:
    rows = await conn.fetch(
        "SELECT * FROM referrals WHERE organisation_id = $1 AND status = ANY($2::text[]) "
        "ORDER BY updated_at LIMIT $3",
        organisation_id,
        list(statuses),
        limit,
    )
    return [_referral(r) for r in rows]


async def change_status(
    conn: DbConnection,
    r: Referral,
    *,
    status: ReferralStatus,
    decline_reason: str | None,
    note: str | None,
    respond_by: datetime | None,
    changed_by: str,
    at: datetime,
) -> Referral:
    row = await conn.fetchrow(
        """
        UPDATE referrals SET status = $2, version = version + 1, decline_reason = $3,
            note = COALESCE($4, note), respond_by = COALESCE($5, respond_by), updated_at = $6
        WHERE referral_id = $1 RETURNING *
        """,
        r.referral_id,
        status.value,
        decline_reason,
        note,
        respond_by,
        at,
    )
    changed = _referral(row)
    await _history(conn, r.referral_id, changed.version, status, decline_reason, changed_by, at)
    return changed


async def take_place(conn: DbConnection, service_id: UUID) -> bool:
    """One open place taken, atomically: never below zero, whoever else accepts at once."""
    row = await conn.fetchrow(
        """
        UPDATE services SET open_places = open_places - 1, updated_at = now()
        WHERE service_id = $1 AND (open_places IS NULL OR open_places > 0)
        RETURNING open_places
        """,
        service_id,
    )
    return row is not None


async def give_back_place(conn: DbConnection, service_id: UUID) -> None:
    await conn.execute(
        """
        UPDATE services SET open_places = CASE
                WHEN capacity_total IS NULL THEN open_places + 1
                ELSE LEAST(open_places + 1, capacity_total) END,
            updated_at = now()
        WHERE service_id = $1 AND open_places IS NOT NULL
        """,
        service_id,
    )


async def due_referrals(conn: DbConnection, now: datetime, limit: int) -> list[Referral]:
    rows = await conn.fetch(
        """
        SELECT * FROM referrals
        WHERE status = 'sent' AND escalated_at IS NULL AND respond_by < $1
        ORDER BY respond_by LIMIT $2 FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [_referral(r) for r in rows]


async def mark_escalated(conn: DbConnection, referral_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE referrals SET escalated_at = $2 WHERE referral_id = $1", referral_id, at
    )


# -- route settings ------------------------------------------------------------------------------


async def route_setting(conn: DbConnection, municipality: str, route: str) -> tuple[bool, int]:
    row = await conn.fetchrow(
        "SELECT auto_refer, response_days FROM route_settings "
        "WHERE municipality = $1 AND route = $2",
        municipality,
        route,
    )
    return (row["auto_refer"], row["response_days"]) if row else (False, 0)


async def put_route_setting(
    conn: DbConnection, municipality: str, route: str, auto_refer: bool, response_days: int
) -> None:
    await conn.execute(
        """
        INSERT INTO route_settings (municipality, route, auto_refer, response_days)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (municipality, route) DO UPDATE SET
            auto_refer = EXCLUDED.auto_refer, response_days = EXCLUDED.response_days
        """,
        municipality,
        route,
        auto_refer,
        response_days,
    )


# -- gaps and evaluation -------------------------------------------------------------------------


async def record_gap(
    conn: DbConnection,
    *,
    signal_id: UUID,
    need: str,
    municipality: str,
    risk_groups: Sequence[str],
    reason: str,
    at: datetime,
) -> bool:
    done = await conn.execute(
        """
        INSERT INTO gaps (signal_id, need, municipality, risk_groups, reason, detected_at)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
        """,
        signal_id,
        need,
        municipality,
        list(risk_groups),
        reason,
        at,
    )
    return done.endswith(" 1")


async def gap_report(conn: DbConnection, municipalities: Sequence[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT municipality, need, COALESCE(g.risk_group, '') AS risk_group, reason,
               count(*) AS signals, max(detected_at) AS last_seen
        FROM gaps LEFT JOIN LATERAL unnest(gaps.risk_groups) AS g(risk_group) ON true
        WHERE municipality = ANY($1::text[])
        GROUP BY 1, 2, 3, 4 ORDER BY signals DESC, 1, 2, 3, 4
        """,
        list(municipalities),
    )
    return [dict(r) for r in rows]


async def open_gaps(conn: DbConnection) -> list[tuple[str, str, str, int]]:
    """(municipality, need, reason, signals) for the /metrics gauge: no ids, no people."""
    rows = await conn.fetch(
        "SELECT municipality, need, reason, count(*) AS n FROM gaps GROUP BY 1, 2, 3"
    )
    return [(r["municipality"], r["need"], r["reason"], r["n"]) for r in rows]


async def offer_evaluation(
    conn: DbConnection, municipalities: Sequence[str]
) -> list[dict[str, Any]]:
    """Per offer: referrals received, accepted, completed, declined (and why) and open places."""
    rows = await conn.fetch(
        """
        WITH reached AS (
            SELECT r.service_id,
                   bool_or(h.status = 'sent') AS received,
                   bool_or(h.status = 'accepted') AS accepted,
                   bool_or(h.status = 'completed') AS completed,
                   bool_or(h.status IN ('declined', 'no_capacity')) AS declined,
                   bool_or(h.status = 'no_capacity') AS no_capacity
            FROM referrals r JOIN referral_history h USING (referral_id)
            WHERE r.municipality = ANY($1::text[])
            GROUP BY r.referral_id, r.service_id
        )
        SELECT s.service_id, s.name, s.open_places, s.capacity_total,
               count(*) FILTER (WHERE received) AS received,
               count(*) FILTER (WHERE accepted) AS accepted,
               count(*) FILTER (WHERE completed) AS completed,
               count(*) FILTER (WHERE declined) AS declined,
               count(*) FILTER (WHERE no_capacity) AS no_capacity
        FROM reached JOIN services s USING (service_id)
        GROUP BY s.service_id, s.name, s.open_places, s.capacity_total
        ORDER BY received DESC, s.name
        """,
        list(municipalities),
    )
    return [dict(r) for r in rows]


async def decline_reasons(
    conn: DbConnection, municipalities: Sequence[str]
) -> dict[UUID, dict[str, int]]:
    rows = await conn.fetch(
        """
        SELECT r.service_id, h.decline_reason, count(*) AS n
        FROM referrals r JOIN referral_history h USING (referral_id)
        WHERE r.municipality = ANY($1::text[]) AND h.status = 'declined'
        GROUP BY 1, 2
        """,
        list(municipalities),
    )
    out: dict[UUID, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["service_id"], {})[r["decline_reason"] or "other"] = r["n"]
    return out


async def claim_callback(conn: DbConnection, organisation_id: UUID, webhook_id: str) -> bool:
    """False when this signed callback was handled before (a redelivery)."""
    done = await conn.execute(
        "INSERT INTO callbacks (organisation_id, webhook_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        organisation_id,
        webhook_id,
    )
    return done.endswith(" 1")


# -- erasure -------------------------------------------------------------------------------------


async def erase_signal(conn: DbConnection, signal_id: UUID, anonymous_id: UUID) -> int:
    """A person was erased: their help question, referrals (with sealed notes), match requests,
    the referrals' history and the published copies of their events go; their gap rows stay
    for the gap report under `anonymous_id`, which links to nobody. A tombstone keeps a late
    help question out. Returns how many referrals went."""
    await conn.execute(
        "DELETE FROM referral_history WHERE referral_id IN"
        " (SELECT referral_id FROM referrals WHERE signal_id = $1)",
        signal_id,
    )
    deleted = await conn.execute("DELETE FROM referrals WHERE signal_id = $1", signal_id)
    await conn.execute("DELETE FROM match_requests WHERE signal_id = $1", signal_id)
    await conn.execute("DELETE FROM help_questions WHERE signal_id = $1", signal_id)
    await conn.execute(
        "UPDATE gaps SET signal_id = $2 WHERE signal_id = $1", signal_id, anonymous_id
    )
    await conn.execute(
        "DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL", str(signal_id)
    )
    await conn.execute(
        "INSERT INTO erased_signals (signal_id) VALUES ($1) ON CONFLICT DO NOTHING", signal_id
    )
    return int(deleted.rsplit(" ", 1)[-1])


async def was_erased(conn: DbConnection, signal_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM erased_signals WHERE signal_id = $1", signal_id)
    )


# -- signed webhooks to organisations ------------------------------------------------------------


async def queue_webhook(conn: DbConnection, r: Referral, event: str, at: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO webhook_deliveries (referral_id, version, organisation_id, service_id,
                                        service_name, event, next_attempt_at, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING
        """,
        r.referral_id,
        r.version,
        r.organisation_id,
        r.service_id,
        r.service_name,
        event,
        at,
    )


@dataclass(frozen=True)
class WebhookDelivery:
    referral_id: UUID
    version: int
    organisation_id: UUID
    service_id: UUID
    service_name: str
    event: str
    attempts: int
    url: str | None
    secret: str | None


async def claim_webhooks(
    conn: DbConnection, now: datetime, lease_until: datetime, limit: int
) -> list[WebhookDelivery]:
    """Due deliveries, leased to this sender until `lease_until` (another replica skips them;
    a sender that dies leaves them due again when the lease ends)."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT referral_id, version FROM webhook_deliveries
            WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
            ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
        )
        UPDATE webhook_deliveries d SET next_attempt_at = $2
        FROM due WHERE d.referral_id = due.referral_id AND d.version = due.version
        RETURNING d.referral_id, d.version, d.organisation_id, d.service_id, d.service_name,
            d.event, d.attempts,
            (SELECT webhook_url FROM organisations o WHERE o.organisation_id = d.organisation_id)
                AS url,
            (SELECT webhook_secret FROM organisations o
             WHERE o.organisation_id = d.organisation_id) AS secret
        """,
        now,
        lease_until,
        limit,
    )
    return [
        WebhookDelivery(
            referral_id=r["referral_id"],
            version=r["version"],
            organisation_id=r["organisation_id"],
            service_id=r["service_id"],
            service_name=r["service_name"],
            event=r["event"],
            attempts=r["attempts"],
            url=r["url"],
            secret=r["secret"],
        )
        for r in rows
    ]


async def webhook_delivered(conn: DbConnection, d: WebhookDelivery, at: datetime) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET delivered_at = $3, attempts = attempts + 1, "
        "last_error = NULL WHERE referral_id = $1 AND version = $2",
        d.referral_id,
        d.version,
        at,
    )


async def webhook_failed(
    conn: DbConnection, d: WebhookDelivery, error: str, *, retry_at: datetime | None, at: datetime
) -> None:
    """One failed attempt: tried again at `retry_at`, or given up (None)."""
    await conn.execute(
        """
        UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $3,
            next_attempt_at = COALESCE($4, next_attempt_at),
            failed_at = CASE WHEN $4::timestamptz IS NULL THEN $5::timestamptz END
        WHERE referral_id = $1 AND version = $2
        """,
        d.referral_id,
        d.version,
        error[:200],
        retry_at,
        at,
    )


async def webhook_state(conn: DbConnection, referral_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT version, event, attempts, delivered_at, failed_at, last_error "
        "FROM webhook_deliveries WHERE referral_id = $1 ORDER BY version",
        referral_id,
    )
    return [dict(r) for r in rows]


# -- match requests (volunteer-type needs) and their outcome -------------------------------------


@dataclass(frozen=True)
class MatchRequest:
    match_request_id: UUID
    signal_id: UUID
    subject_id: UUID
    municipality: str
    needs: tuple[Need, ...]
    status: str
    attempt: int
    match_version: int
    version: int
    match_id: UUID | None
    volunteer_id: UUID | None
    social_worker: str | None
    respond_by: datetime | None
    end_reason: str | None
    failed_constraint: str | None
    requested_at: datetime
    updated_at: datetime


def _match_request(row: Any) -> MatchRequest:
    return MatchRequest(**{**dict(row), "needs": tuple(Need(n) for n in row["needs"])})


async def insert_match_request(  # noqa: PLR0917 - one request's columns
    conn: DbConnection,
    match_request_id: UUID,
    signal_id: UUID,
    subject_id: UUID,
    municipality: str,
    needs: Sequence[Need],
    at: datetime,
) -> None:
    """A request sent to matching (or first heard of on matches.v1); a second insert of the same
    request is nothing."""
    await conn.execute(
        """
        INSERT INTO match_requests (match_request_id, signal_id, subject_id, municipality, needs,
                                    status, requested_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, 'requested', $6, $6)
        ON CONFLICT (match_request_id) DO NOTHING
        """,
        match_request_id,
        signal_id,
        subject_id,
        municipality,
        [n.value for n in needs],
        at,
    )


async def get_match_request(
    conn: DbConnection, match_request_id: UUID, *, for_update: bool = False
) -> MatchRequest | None:
    query = "SELECT * FROM match_requests WHERE match_request_id = $1"
    row = await conn.fetchrow(query + (" FOR UPDATE" if for_update else ""), match_request_id)
    return _match_request(row) if row else None


async def match_requests_of(conn: DbConnection, signal_id: UUID) -> list[MatchRequest]:
    rows = await conn.fetch(
        "SELECT * FROM match_requests WHERE signal_id = $1 ORDER BY requested_at, match_request_id",
        signal_id,
    )
    return [_match_request(r) for r in rows]


async def save_match_request(conn: DbConnection, r: MatchRequest) -> None:
    await conn.execute(
        """
        UPDATE match_requests SET status = $2, attempt = $3, match_version = $4, version = $5,
            match_id = $6, volunteer_id = $7, social_worker = $8, respond_by = $9,
            end_reason = $10, failed_constraint = $11, updated_at = $12
        WHERE match_request_id = $1
        """,
        r.match_request_id,
        r.status,
        r.attempt,
        r.match_version,
        r.version,
        r.match_id,
        r.volunteer_id,
        r.social_worker,
        r.respond_by,
        r.end_reason,
        r.failed_constraint,
        r.updated_at,
    )


async def needs_met_by_matches(conn: DbConnection, signal_id: UUID) -> list[Need]:
    """The needs of the signal's match requests that ended completed (a volunteer met them)."""
    rows = await conn.fetch(
        "SELECT DISTINCT unnest(needs) AS need FROM match_requests"
        " WHERE signal_id = $1 AND status = 'ended' AND end_reason = 'completed'",
        signal_id,
    )
    return [Need(r["need"]) for r in rows]
