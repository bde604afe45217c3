"""Matching's SQL: the volunteer registry, match requests, matches, and the reports.

The hard constraints of `domain.failed_constraint` are written here once more as SQL, so a
request reads only eligible volunteers, in fair order, from the `volunteers_fair_order` index
and stops after `limit` rows: the cost of a request does not grow with the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from signaalpunt_contracts import MatchEndReason, MatchStatus, Need
from signaalpunt_runtime.database import DbConnection

from .domain import Request, Skill, Volunteer, VolunteerStatus, needs_training, skills_for

# -- volunteers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolunteerRow:
    """A volunteer as stored: the matching attributes in the clear, personal data sealed."""

    volunteer: Volunteer
    municipality: str
    external_id: str | None
    postcode_area: str
    vog_issued_on: date | None
    sealed: dict[str, str | None]  # first_name, last_name, email, phone, postcode


SEALED_FIELDS = ("first_name", "last_name", "email", "phone", "postcode")
_COLUMNS = (
    "volunteer_id, municipality, external_id, status, skills, trained_on, languages, interests, "
    "availability, postcode_area, lat, lon, max_travel_km, max_matches, load, matches_counted, "
    "vog_issued_on, vog_expires_on, social_worker, first_name, last_name, email, phone, postcode"
)


def _volunteer(row: Any) -> Volunteer:
    return Volunteer(
        volunteer_id=row["volunteer_id"],
        status=VolunteerStatus(row["status"]),
        skills=frozenset(Skill(s) for s in row["skills"]),
        trained_on=row["trained_on"],
        languages=frozenset(row["languages"]),
        interests=frozenset(row["interests"]),
        availability=frozenset(row["availability"]),
        home=(row["lat"], row["lon"]),
        max_travel_km=row["max_travel_km"],
        max_matches=row["max_matches"],
        load=row["load"],
        matches_counted=row["matches_counted"],
        vog_expires_on=row["vog_expires_on"],
        social_worker=row["social_worker"],
    )


def _row(row: Any) -> VolunteerRow:
    return VolunteerRow(
        volunteer=_volunteer(row),
        municipality=row["municipality"],
        external_id=row["external_id"],
        postcode_area=row["postcode_area"],
        vog_issued_on=row["vog_issued_on"],
        sealed={f: row[f] for f in SEALED_FIELDS},
    )


async def existing_ids(
    conn: DbConnection, municipality: str, external_ids: Sequence[str]
) -> dict[str, UUID]:
    """The volunteers an import already made, by the coordinator's own id (re-import updates)."""
    rows = await conn.fetch(
        "SELECT external_id, volunteer_id FROM volunteers "
        "WHERE municipality = $1 AND external_id = ANY($2::text[])",
        municipality,
        list(external_ids),
    )
    return {r["external_id"]: r["volunteer_id"] for r in rows}


async def upsert_volunteers(conn: DbConnection, rows: Sequence[VolunteerRow]) -> None:
    """Insert or update; a newcomer starts at the municipality's lowest count of matches given,
    so the fair spread does not pile every next request onto them."""
    await conn.executemany(
        """
        INSERT INTO volunteers (volunteer_id, municipality, external_id, status, skills,
            trained_on, languages, interests, availability, postcode_area, lat, lon,
            max_travel_km, max_matches, vog_issued_on, vog_expires_on, social_worker,
            first_name, last_name, email, phone, postcode, matches_counted)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21, $22,
                COALESCE((SELECT min(matches_counted) FROM volunteers
                          WHERE municipality = $2 AND status = 'active'), 0))
        ON CONFLICT (volunteer_id) DO UPDATE SET
            status = EXCLUDED.status, skills = EXCLUDED.skills, trained_on = EXCLUDED.trained_on,
            languages = EXCLUDED.languages, interests = EXCLUDED.interests,
            availability = EXCLUDED.availability, postcode_area = EXCLUDED.postcode_area,
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, max_travel_km = EXCLUDED.max_travel_km,
            max_matches = EXCLUDED.max_matches, vog_issued_on = EXCLUDED.vog_issued_on,
            vog_expires_on = EXCLUDED.vog_expires_on, social_worker = EXCLUDED.social_worker,
            first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
            email = EXCLUDED.email, phone = EXCLUDED.phone, postcode = EXCLUDED.postcode,
            updated_at = now()
        """,
        [
            (
                r.volunteer.volunteer_id,
                r.municipality,
                r.external_id,
                r.volunteer.status.value,
                sorted(s.value for s in r.volunteer.skills),
                r.volunteer.trained_on,
                sorted(r.volunteer.languages),
                sorted(r.volunteer.interests),
                sorted(r.volunteer.availability),
                r.postcode_area,
                r.volunteer.home[0],
                r.volunteer.home[1],
                r.volunteer.max_travel_km,
                r.volunteer.max_matches,
                r.vog_issued_on,
                r.volunteer.vog_expires_on,
                r.volunteer.social_worker,
                *(r.sealed.get(f) for f in SEALED_FIELDS),
            )
            for r in rows
        ],
    )


async def registry_is_empty(conn: DbConnection) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM volunteers)")


async def get_volunteer(
    conn: DbConnection, volunteer_id: UUID, *, for_update: bool = False
) -> VolunteerRow | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM volunteers WHERE volunteer_id = $1{lock}",  # noqa: S608
        volunteer_id,
    )
    return _row(row) if row else None


async def list_volunteers(
    conn: DbConnection, municipalities: Sequence[str], status: str | None, limit: int, offset: int
) -> list[VolunteerRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM volunteers "  # noqa: S608 - fixed column list
        "WHERE municipality = ANY($1::text[]) AND ($2::text IS NULL OR status = $2) "
        "ORDER BY municipality, volunteer_id LIMIT $3 OFFSET $4",
        list(municipalities),
        status,
        limit,
        offset,
    )
    return [_row(r) for r in rows]


async def update_volunteer(conn: DbConnection, volunteer_id: UUID, changes: dict[str, Any]) -> None:
    allowed = {
        "status",
        "max_matches",
        "max_travel_km",
        "vog_issued_on",
        "vog_expires_on",
        "social_worker",
        "availability",
        "trained_on",
        "skills",
        "languages",
        "interests",
    }
    names = [n for n in changes if n in allowed]
    if not names:
        return
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    await conn.execute(
        f"UPDATE volunteers SET {sets}, updated_at = now() WHERE volunteer_id = $1",  # noqa: S608
        volunteer_id,
        *(changes[n] for n in names),
    )


# -- the pre-filter -------------------------------------------------------------------------------

_KM = (
    "2 * 6371 * asin(sqrt(power(sin(radians($5 - v.lat) / 2), 2) + cos(radians(v.lat)) "
    "* cos(radians($5)) * power(sin(radians($6 - v.lon) / 2), 2)))"
)
# $1 municipality, $2 start date, $3 skills serving a need, $4 training needed, $5/$6 the
# neighbourhood (may be NULL), $7 languages (empty: any), $8 volunteers already asked
_FAILED = f"""
    CASE
        WHEN v.status <> 'active' THEN 'status'
        WHEN v.vog_expires_on IS NULL OR v.vog_expires_on < $2 THEN 'vog'
        WHEN NOT v.skills && $3::text[] THEN 'skill'
        WHEN $4 AND NOT (v.skills @> ARRAY['existential_conversation']
                         AND v.trained_on IS NOT NULL AND v.trained_on <= $2) THEN 'training'
        WHEN v.load >= v.max_matches THEN 'capacity'
        WHEN cardinality($7::text[]) > 0 AND NOT v.languages && $7::text[] THEN 'language'
        WHEN $5::float8 IS NOT NULL AND {_KM} > v.max_travel_km THEN 'distance'
        WHEN v.volunteer_id = ANY($8::uuid[]) THEN 'already_asked'
    END"""
_ELIGIBLE = f"""
    v.municipality = $1 AND v.status = 'active'
    AND v.vog_expires_on >= $2
    AND v.skills && $3::text[]
    AND (NOT $4 OR (v.skills @> ARRAY['existential_conversation']
                    AND v.trained_on IS NOT NULL AND v.trained_on <= $2))
    AND v.load < v.max_matches
    AND (cardinality($7::text[]) = 0 OR v.languages && $7::text[])
    AND ($5::float8 IS NULL OR {_KM} <= v.max_travel_km)
    AND NOT v.volunteer_id = ANY($8::uuid[])"""


def _arguments(municipality: str, r: Request) -> list[Any]:
    return [
        municipality,
        r.start_on,
        sorted(s.value for s in skills_for(r.needs)),
        needs_training(r.needs),
        r.near[0] if r.near else None,
        r.near[1] if r.near else None,
        sorted(r.languages),
        sorted(r.already_asked),
    ]


async def candidates(
    conn: DbConnection, municipality: str, r: Request, *, limit: int
) -> list[Volunteer]:
    """The eligible volunteers with the fewest matches given (`limit` of them), plus any earlier
    volunteer of the same person who is still eligible (continuity)."""
    columns = ", ".join(f"v.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await conn.fetch(
        f"SELECT {columns} FROM volunteers v WHERE {_ELIGIBLE} "  # noqa: S608 - fixed SQL
        "ORDER BY v.matches_counted, v.load, v.volunteer_id LIMIT $9",
        *_arguments(municipality, r),
        limit,
    )
    found = [_volunteer(row) for row in rows]
    earlier = set(r.earlier_volunteers) - {v.volunteer_id for v in found}
    if earlier:
        rows = await conn.fetch(
            f"SELECT {columns} FROM volunteers v WHERE {_ELIGIBLE} "  # noqa: S608
            "AND v.volunteer_id = ANY($9::uuid[])",
            *_arguments(municipality, r),
            sorted(earlier),
        )
        found += [_volunteer(row) for row in rows]
    return found


async def explain_candidates(
    conn: DbConnection, municipality: str, r: Request, *, limit: int
) -> str:
    """The pre-filter's executed plan (for the benchmark and operators): which index, how many
    rows it read to find `limit` eligible ones."""
    rows = await conn.fetch(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT v.volunteer_id FROM volunteers v "  # noqa: S608
        f"WHERE {_ELIGIBLE} ORDER BY v.matches_counted, v.load, v.volunteer_id LIMIT $9",
        *_arguments(municipality, r),
        limit,
    )
    return "\n".join(row[0] for row in rows)


async def ruled_out(conn: DbConnection, municipality: str, r: Request) -> dict[str, int]:
    """Per constraint, how many of the municipality's volunteers it ruled out first (only for a
    request that found nobody: one pass over the municipality's registry)."""
    rows = await conn.fetch(
        f"SELECT {_FAILED} AS failed, count(*) AS n FROM volunteers v "  # noqa: S608
        "WHERE v.municipality = $1 GROUP BY 1",
        *_arguments(municipality, r),
    )
    return {row["failed"]: row["n"] for row in rows if row["failed"] is not None}


async def take_place(conn: DbConnection, volunteer_id: UUID) -> bool:
    """One conditional UPDATE: concurrent proposals never give a volunteer more matches than
    their maximum (the row lock orders them; the loser sees the new load and gets no row)."""
    return (
        await conn.fetchval(
            "UPDATE volunteers SET load = load + 1, matches_counted = matches_counted + 1 "
            "WHERE volunteer_id = $1 AND status = 'active' AND load < max_matches "
            "RETURNING volunteer_id",
            volunteer_id,
        )
        is not None
    )


async def give_back_place(conn: DbConnection, volunteer_id: UUID, *, uncount: bool) -> None:
    """A declined or expired proposal was no match given: it does not count for the spread."""
    await conn.execute(
        "UPDATE volunteers SET load = greatest(load - 1, 0), "
        "matches_counted = matches_counted - CASE WHEN $2 THEN 1 ELSE 0 END "
        "WHERE volunteer_id = $1",
        volunteer_id,
        uncount,
    )


# -- match requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRequest:
    match_request_id: UUID
    signal_id: UUID
    subject_id: UUID
    municipality: str
    needs: tuple[Need, ...]
    languages: frozenset[str]
    interests: frozenset[str]
    availability: tuple[str, ...]
    near: tuple[float, float] | None
    start_on: date
    first_name: str | None
    status: str
    attempts: int
    failed_constraint: str | None
    ruled_out: dict[str, int]
    requested_at: datetime


def _request(row: Any) -> StoredRequest:
    return StoredRequest(
        match_request_id=row["match_request_id"],
        signal_id=row["signal_id"],
        subject_id=row["subject_id"],
        municipality=row["municipality"],
        needs=tuple(Need(n) for n in row["needs"]),
        languages=frozenset(row["languages"]),
        interests=frozenset(row["interests"]),
        availability=tuple(row["availability"]),
        near=(row["lat"], row["lon"]) if row["lat"] is not None else None,
        start_on=row["start_on"],
        first_name=row["first_name"],
        status=row["status"],
        attempts=row["attempts"],
        failed_constraint=row["failed_constraint"],
        ruled_out=dict(row["ruled_out"] or {}),
        requested_at=row["requested_at"],
    )


async def save_request(conn: DbConnection, r: StoredRequest) -> bool:
    """False when this request was stored before (a request re-sent with a new event id)."""
    return (
        await conn.fetchval(
            """
            INSERT INTO match_requests (match_request_id, signal_id, subject_id, municipality,
                needs, languages, interests, availability, lat, lon, start_on, first_name,
                requested_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (match_request_id) DO NOTHING
            RETURNING match_request_id
            """,
            r.match_request_id,
            r.signal_id,
            r.subject_id,
            r.municipality,
            [n.value for n in r.needs],
            sorted(r.languages),
            sorted(r.interests),
            list(r.availability),
            r.near[0] if r.near else None,
            r.near[1] if r.near else None,
            r.start_on,
            r.first_name,
            r.requested_at,
        )
        is not None
    )


async def get_request(
    conn: DbConnection, match_request_id: UUID, *, for_update: bool = False
) -> StoredRequest | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT * FROM match_requests WHERE match_request_id = $1{lock}",  # noqa: S608
        match_request_id,
    )
    return _request(row) if row else None


async def asked_volunteers(conn: DbConnection, match_request_id: UUID) -> frozenset[UUID]:
    rows = await conn.fetch(
        "SELECT volunteer_id FROM matches WHERE match_request_id = $1", match_request_id
    )
    return frozenset(r["volunteer_id"] for r in rows)


async def earlier_volunteers(
    conn: DbConnection, subject_id: UUID, match_request_id: UUID, exclude: Sequence[str]
) -> frozenset[UUID]:
    """Volunteers who had an accepted match with this person before (continuity), unless it
    ended in a way that makes them no preferred choice."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT m.volunteer_id FROM matches m JOIN match_requests q USING (match_request_id)
        WHERE q.subject_id = $1 AND m.match_request_id <> $2
          AND m.status IN ('accepted', 'active', 'ended')
          AND (m.end_reason IS NULL OR NOT m.end_reason = ANY($3::text[]))
          AND (m.status <> 'ended' OR m.active_since IS NOT NULL)
        """,
        subject_id,
        match_request_id,
        list(exclude),
    )
    return frozenset(r["volunteer_id"] for r in rows)


async def close_request(
    conn: DbConnection,
    match_request_id: UUID,
    *,
    status: str,
    attempts: int,
    failed: str | None = None,
    ruled_out: dict[str, int] | None = None,
    at: datetime | None = None,
) -> None:
    await conn.execute(
        "UPDATE match_requests SET status = $2, attempts = $3, failed_constraint = $4, "
        "ruled_out = $5, unmatched_at = $6 WHERE match_request_id = $1",
        match_request_id,
        status,
        attempts,
        failed,
        ruled_out or {},
        at,
    )


# -- matches ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    match_id: UUID
    match_request_id: UUID
    volunteer_id: UUID
    municipality: str
    status: MatchStatus
    version: int
    attempt: int
    score: float
    reasons: tuple[str, ...]
    respond_by: datetime | None
    link_nonce: str | None
    active_since: datetime | None
    follow_up_at: datetime | None
    real_match: bool | None
    end_reason: MatchEndReason | None
    created_at: datetime
    updated_at: datetime


def _match(row: Any) -> Match:
    return Match(
        match_id=row["match_id"],
        match_request_id=row["match_request_id"],
        volunteer_id=row["volunteer_id"],
        municipality=row["municipality"],
        status=MatchStatus(row["status"]),
        version=row["version"],
        attempt=row["attempt"],
        score=row["score"],
        reasons=tuple(row["reasons"]),
        respond_by=row["respond_by"],
        link_nonce=row["link_nonce"],
        active_since=row["active_since"],
        follow_up_at=row["follow_up_at"],
        real_match=row["real_match"],
        end_reason=MatchEndReason(row["end_reason"]) if row["end_reason"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_match(conn: DbConnection, m: Match) -> None:
    await conn.execute(
        """
        INSERT INTO matches (match_id, match_request_id, volunteer_id, municipality, status,
            version, attempt, score, reasons, respond_by, link_nonce, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        m.match_id,
        m.match_request_id,
        m.volunteer_id,
        m.municipality,
        m.status.value,
        m.version,
        m.attempt,
        m.score,
        list(m.reasons),
        m.respond_by,
        m.link_nonce,
        m.created_at,
        m.updated_at,
    )


async def get_match(
    conn: DbConnection, match_id: UUID, *, for_update: bool = False
) -> Match | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT * FROM matches WHERE match_id = $1{lock}",  # noqa: S608
        match_id,
    )
    return _match(row) if row else None


async def matches_of_request(conn: DbConnection, match_request_id: UUID) -> list[Match]:
    rows = await conn.fetch(
        "SELECT * FROM matches WHERE match_request_id = $1 ORDER BY attempt", match_request_id
    )
    return [_match(r) for r in rows]


async def list_matches(
    conn: DbConnection,
    municipalities: Sequence[str],
    status: str | None,
    social_worker: str | None,
    limit: int,
) -> list[Match]:
    rows = await conn.fetch(
        """
        SELECT m.* FROM matches m JOIN volunteers v USING (volunteer_id)
        WHERE m.municipality = ANY($1::text[]) AND ($2::text IS NULL OR m.status = $2)
          AND ($3::text IS NULL OR v.social_worker = $3)
        ORDER BY m.updated_at DESC LIMIT $4
        """,
        list(municipalities),
        status,
        social_worker,
        limit,
    )
    return [_match(r) for r in rows]


async def change_match(
    conn: DbConnection,
    m: Match,
    *,
    status: MatchStatus,
    at: datetime,
    end_reason: MatchEndReason | None = None,
) -> Match:
    """The new status; the answer link stops working with any change."""
    row = await conn.fetchrow(
        """
        UPDATE matches SET status = $2, version = version + 1, updated_at = $3,
            link_nonce = NULL, end_reason = COALESCE($4, end_reason),
            active_since = CASE WHEN $2 = 'active' THEN $3 ELSE active_since END
        WHERE match_id = $1 RETURNING *
        """,
        m.match_id,
        status.value,
        at,
        end_reason.value if end_reason else None,
    )
    return _match(row)


async def due_proposals(conn: DbConnection, now: datetime, batch: int) -> list[Match]:
    """Unanswered proposals past their deadline, claimed: another replica skips them."""
    rows = await conn.fetch(
        "SELECT * FROM matches WHERE status = 'proposed' AND respond_by < $1 "
        "ORDER BY respond_by LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        batch,
    )
    return [_match(r) for r in rows]


async def due_follow_ups(conn: DbConnection, before: datetime, batch: int) -> list[Match]:
    rows = await conn.fetch(
        "SELECT * FROM matches WHERE status = 'active' AND follow_up_at IS NULL "
        "AND active_since < $1 ORDER BY active_since LIMIT $2 FOR UPDATE SKIP LOCKED",
        before,
        batch,
    )
    return [_match(r) for r in rows]


async def mark_follow_up(conn: DbConnection, match_id: UUID, at: datetime) -> Match:
    row = await conn.fetchrow(
        "UPDATE matches SET follow_up_at = $2, version = version + 1, updated_at = $2 "
        "WHERE match_id = $1 RETURNING *",
        match_id,
        at,
    )
    return _match(row)


async def record_follow_up(conn: DbConnection, match_id: UUID, real_match: bool) -> None:
    await conn.execute(
        "UPDATE matches SET real_match = $2, follow_up_at = COALESCE(follow_up_at, now()) "
        "WHERE match_id = $1",
        match_id,
        real_match,
    )


# -- certificates of conduct ---------------------------------------------------------------------


async def claim_vog_expiring(conn: DbConnection, until: date, batch: int) -> list[VolunteerRow]:
    """Active volunteers whose VOG expires by `until` and who were not warned about this
    certificate yet, claimed (one warning each, whichever replica looks)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM volunteers WHERE status = 'active' "  # noqa: S608
        "AND vog_expires_on <= $1 AND vog_warned_for IS DISTINCT FROM vog_expires_on "
        "ORDER BY vog_expires_on LIMIT $2 FOR UPDATE SKIP LOCKED",
        until,
        batch,
    )
    return [_row(r) for r in rows]


async def mark_vog_warned(conn: DbConnection, volunteer_id: UUID) -> None:
    await conn.execute(
        "UPDATE volunteers SET vog_warned_for = vog_expires_on WHERE volunteer_id = $1",
        volunteer_id,
    )


async def vog_expiring(
    conn: DbConnection, municipalities: Sequence[str], until: date
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT volunteer_id, municipality, vog_expires_on, social_worker, load FROM volunteers "
        "WHERE status = 'active' AND municipality = ANY($1::text[]) AND vog_expires_on <= $2 "
        "ORDER BY vog_expires_on, volunteer_id",
        list(municipalities),
        until,
    )
    return [dict(r) for r in rows]


# -- the unmatched report -------------------------------------------------------------------------


async def unmatched_report(
    conn: DbConnection, municipalities: Sequence[str]
) -> list[dict[str, Any]]:
    """Per municipality: requests that found nobody, by the constraint that ruled out most."""
    rows = await conn.fetch(
        """
        SELECT municipality, failed_constraint, count(*) AS requests,
               max(unmatched_at) AS last_seen
        FROM match_requests
        WHERE status = 'unmatched' AND municipality = ANY($1::text[])
        GROUP BY municipality, failed_constraint
        ORDER BY municipality, requests DESC, failed_constraint
        """,
        list(municipalities),
    )
    return [dict(r) for r in rows]


# -- erasure ---------------------------------------------------------------------------------------


async def requests_of_signal(
    conn: DbConnection, signal_id: UUID, *, for_update: bool = False
) -> list[StoredRequest]:
    lock = " FOR UPDATE" if for_update else ""
    rows = await conn.fetch(
        f"SELECT * FROM match_requests WHERE signal_id = $1 ORDER BY requested_at{lock}",  # noqa: S608
        signal_id,
    )
    return [_request(r) for r in rows]


async def erase_signal(conn: DbConnection, signal_id: UUID) -> int:
    """A person was erased: their match requests (first name, neighbourhood, languages,
    interests, availability) and matches go, with the published copies of their events. An
    unmatched request stays for the unmatched report, under random ids and without anything
    of the person (its needs and what ruled volunteers out are about the registry). A tombstone
    keeps a late request out. Returns how many matches went."""
    deleted = await conn.execute(
        "DELETE FROM matches WHERE match_request_id IN"
        " (SELECT match_request_id FROM match_requests WHERE signal_id = $1)",
        signal_id,
    )
    await conn.execute(
        "DELETE FROM match_requests WHERE signal_id = $1 AND status <> 'unmatched'", signal_id
    )
    await conn.execute(
        """
        UPDATE match_requests SET signal_id = gen_random_uuid(), subject_id = gen_random_uuid(),
            first_name = NULL, lat = NULL, lon = NULL, languages = '{}', interests = '{}',
            availability = '{}'
        WHERE signal_id = $1
        """,
        signal_id,
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


async def open_matches_of_volunteer(conn: DbConnection, volunteer_id: UUID) -> list[Match]:
    rows = await conn.fetch(
        "SELECT * FROM matches WHERE volunteer_id = $1 "
        "AND status IN ('proposed', 'accepted', 'active') ORDER BY created_at FOR UPDATE",
        volunteer_id,
    )
    return [_match(r) for r in rows]


async def erase_volunteer(conn: DbConnection, volunteer_id: UUID) -> None:
    """A volunteer erased on their own request: their name, contact, full postcode, the
    coordinator's own id for them, what they like and when they can are cleared, and they have
    left. The row stays (ids, PC4 area, the count of matches given) because ended matches and
    the fair spread refer to it; nothing in it names them. Published copies of their VOG
    warnings go."""
    await conn.execute(
        """
        UPDATE volunteers SET status = 'left', external_id = NULL, first_name = NULL,
            last_name = NULL, email = NULL, phone = NULL, postcode = NULL, interests = '{}',
            availability = '{}', languages = '{}', skills = '{}', trained_on = NULL,
            vog_issued_on = NULL, vog_expires_on = NULL, vog_warned_for = NULL,
            max_matches = 0, load = 0, erased_at = COALESCE(erased_at, now()), updated_at = now()
        WHERE volunteer_id = $1
        """,
        volunteer_id,
    )
    await conn.execute(
        "DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL", str(volunteer_id)
    )
