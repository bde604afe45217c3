"""The access log (verwerkingenlogboek): who processed whose personal data, when, why, and how it
ended, shaped after the government standard Logboek Dataverwerkingen and BIO 8.15.

Every route that shows, exports, searches or erases personal data records one entry per signal it
touched, in the same transaction as the read (a read whose entry cannot be written fails):

    entry = AccessEntry.of(principal, activity="triage.case_view", operation=Operation.READ,
                           municipality=case.municipality, signal_id=case.signal_id,
                           subject_id=case.subject_id, categories=(DataCategory.CASE,),
                           purpose=Purpose.SIGNAL_HANDLING)
    await record(conn, [entry])

An entry holds ids and vocabulary only (the signal id and subject id are pseudonymous ids), never
a name or a text. The table lives in the service's own schema (`access_log_sql()` in a migration);
PostgreSQL refuses every UPDATE and TRUNCATE, and every DELETE of an entry younger than
`MIN_RETENTION_DAYS`, whoever asks short of the schema's owner changing the trigger: the log is
append-only for the service's role. Each municipality's entries form a hash chain (the trigger
numbers them and hashes each over the previous one; `verify_chain` recomputes it), so an entry
changed or removed behind the triggers' back shows. Row-level security per municipality
(`tenancy`) keeps another municipality's entries out of a coordinator's reads.
`AccessLogPruner` deletes entries past the service's retention (`access_log_retention_days`).

The SQL is here (one repository) because every service has the same table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field
from signaalpunt_access import Principal
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.periodic import PeriodicJob
from signaalpunt_runtime.tenancy import municipality_policy

log = get_logger(__name__)

MIN_RETENTION_DAYS = 180
"""No entry younger than this can be deleted (the trigger's floor): a service that is misused or
misconfigured cannot empty its own log."""

DEFAULT_RETENTION_DAYS = 730


class Operation(StrEnum):
    READ = "read"  # personal data shown
    WRITE = "write"  # personal data recorded or changed
    SEARCH = "search"  # a person looked up (the answer names their signals)
    EXPORT = "export"  # everything held on a person handed out (AVG art. 15)
    ERASE = "erase"  # a person's data erased (AVG art. 17), or its erasure requested


class DataCategory(StrEnum):
    IDENTITY = "identity"  # name, birth year, address, postcode
    CONTACT = "contact"  # phone, e-mail
    CONCERN = "concern"  # the reporter's words and cues
    REPORTER = "reporter"  # the reporter's own details
    CASE = "case"  # triage's route, risk groups, priority, decisions, steps
    PROCESSING = "processing"  # who processed a person's data: the access log itself


class Purpose(StrEnum):
    """The processing's purpose and legal basis, as the register of processing activities names
    them. The vocabularies are CHECK constraints of each service's table as its migration made
    it: a service that starts writing a new value needs a migration that widens its check."""

    SIGNAL_HANDLING = "signal_handling"  # public task (AVG 6.1.e): handling a loneliness signal
    DATA_SUBJECT_ACCESS = "data_subject_access"  # AVG art. 15
    ERASURE = "erasure"  # AVG art. 17, and retention (art. 5.1.e)
    VOLUNTEER_REGISTRY = "volunteer_registry"  # the volunteers' own registration (consent)
    ACCOUNTABILITY = "accountability"  # AVG art. 5.2 / BIO 12.4: the log read back


class ActorKind(StrEnum):
    STAFF = "staff"
    PARTNER = "partner"
    SERVICE = "service"
    SYSTEM = "system"  # one of the system's own jobs (retention, a consumer)
    PUBLIC = "public"  # an anonymous citizen (the web form): no id, so the actor is `anonymous`
    VOLUNTEER = "volunteer"  # a volunteer through their signed answer link (actor: their id)


class Outcome(StrEnum):
    OK = "ok"
    ERASED = "erased"  # the data was there, its key shredded: nothing could be shown


_CODE = r"^[a-z][a-z0-9_.]{0,79}$"
_ACTOR = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$"  # an id (URN, uuid), never a display name


class AccessEntry(BaseModel):
    """One processing of one person's data, as written; ids and vocabulary only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    activity: str = Field(
        pattern=_CODE, description="the processing activity, e.g. triage.case_view"
    )
    operation: Operation
    actor: str = Field(pattern=_ACTOR, description="the principal's id (token subject)")
    actor_kind: ActorKind
    roles: tuple[str, ...] = Field(default=(), max_length=20)
    municipality: str = Field(pattern=r"^GM[0-9]{4}$")
    signal_id: UUID | None = None
    subject_id: UUID | None = Field(default=None, description="the person's pseudonymous id")
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    purpose: Purpose
    outcome: Outcome = Outcome.OK
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")

    @classmethod
    def of(cls, principal: Principal, **fields: Any) -> AccessEntry:
        """An entry by this principal, in the current trace."""
        return cls(
            actor=actor_id(principal.subject),
            actor_kind=ActorKind(principal.kind.value),
            roles=tuple(sorted(principal.roles)),
            **_trace(),
            **fields,
        )

    @classmethod
    def by_system(cls, actor: str, **fields: Any) -> AccessEntry:
        """An entry by one of the system's own jobs (e.g. `system:retention`)."""
        return cls(actor=actor, actor_kind=ActorKind.SYSTEM, **_trace(), **fields)

    @classmethod
    def by(cls, actor: str, kind: ActorKind, **fields: Any) -> AccessEntry:
        """An entry by someone without a staff or partner token: an anonymous citizen
        (`anonymous`, `public`) or a volunteer through their link (their id, `volunteer`)."""
        return cls(actor=actor_id(actor), actor_kind=kind, **_trace(), **fields)


def actor_id(subject: str) -> str:
    """The token's subject as the log's actor. An identity provider may use characters the log
    does not take (`auth0|…`, spaces): such a subject is logged as a stable keyless digest, so a
    read is never refused for its reader's id (the provider can map it back)."""
    if re.match(_ACTOR, subject):
        return subject
    return "sha256:" + hashlib.sha256(subject.encode()).hexdigest()


def _trace() -> dict[str, Any]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


class AccessRecord(BaseModel):
    """An entry as read back: when it was written, and its place in the log."""

    entry_id: int
    chain_seq: int
    at: datetime
    activity: str
    operation: Operation
    actor: str
    actor_kind: str
    roles: list[str]
    municipality: str
    signal_id: UUID | None
    subject_id: UUID | None
    categories: list[DataCategory]
    purpose: Purpose
    outcome: Outcome
    trace_id: str | None
    span_id: str | None


def retention_days_field() -> Any:
    """The `access_log_retention_days` setting of a service that keeps an access log."""
    return Field(
        default=DEFAULT_RETENTION_DAYS,
        ge=MIN_RETENTION_DAYS,
        description=f"days the access log keeps an entry (at least {MIN_RETENTION_DAYS})",
    )


# -- the table ---------------------------------------------------------------------------------


def access_log_sql() -> str:
    """SQL for a service's migration: the `access_log` table in its schema, append-only, with
    row-level security per municipality."""
    return f"""
        CREATE TABLE access_log (
            entry_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at            timestamptz NOT NULL DEFAULT now(),
            activity      text        NOT NULL CHECK (activity ~ '{_CODE}'),
            operation     text        NOT NULL
                CHECK (operation IN ({_quoted(Operation)})),
            actor         text        NOT NULL CHECK (actor ~ '{_ACTOR}'),
            actor_kind    text        NOT NULL
                CHECK (actor_kind IN ({_quoted(ActorKind)})),
            roles         text[]      NOT NULL DEFAULT '{{}}',
            municipality  text        NOT NULL CHECK (municipality ~ '^GM[0-9]{{4}}$'),
            signal_id     uuid,
            subject_id    uuid,
            categories    text[]      NOT NULL
                CHECK (categories <@ ARRAY[{_quoted(DataCategory)}]::text[]),
            purpose       text        NOT NULL CHECK (purpose IN ({_quoted(Purpose)})),
            outcome       text        NOT NULL CHECK (outcome IN ({_quoted(Outcome)})),
            trace_id      text        CHECK (trace_id ~ '^[0-9a-f]{{32}}$'),
            span_id       text        CHECK (span_id ~ '^[0-9a-f]{{16}}$'),
            -- the integrity chain, per municipality: set by the trigger below, never by a writer
            chain_seq     bigint      NOT NULL,
            previous_hash bytea,
            entry_hash    bytea       NOT NULL
        );
        CREATE UNIQUE INDEX access_log_chain ON access_log (municipality, chain_seq);
        CREATE INDEX access_log_municipality_at ON access_log (municipality, at);
        CREATE INDEX access_log_signal ON access_log (signal_id) WHERE signal_id IS NOT NULL;
        CREATE INDEX access_log_subject ON access_log (subject_id) WHERE subject_id IS NOT NULL;

        -- append-only: nothing is changed, nothing younger than the floor is removed
        CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.at > now() - interval '{MIN_RETENTION_DAYS} days' THEN
                    RAISE EXCEPTION 'access log entries are kept {MIN_RETENTION_DAYS} days at least'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'access log entries are never changed (%)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
            FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
        CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
            FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

        -- an entry's hash covers the previous entry's hash and every column of its own
        CREATE FUNCTION access_log_digest(previous bytea, e access_log) RETURNS bytea
        LANGUAGE sql STABLE AS $$
            SELECT sha256(coalesce(previous, ''::bytea) || convert_to(concat_ws(E'\\x1f',
                e.municipality, e.chain_seq::text,
                to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                e.activity, e.operation, e.actor, e.actor_kind, array_to_string(e.roles, ','),
                coalesce(e.signal_id::text, ''), coalesce(e.subject_id::text, ''),
                array_to_string(e.categories, ','), e.purpose, e.outcome,
                coalesce(e.trace_id, ''), coalesce(e.span_id, '')), 'UTF8'))
        $$;
        -- one writer per municipality's chain at a time (until its transaction ends); the
        -- time is taken after the lock, so time and chain order agree and retention removes
        -- the chain's oldest part only
        CREATE FUNCTION access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            last_seq  bigint;
            last_hash bytea;
        BEGIN
            PERFORM pg_advisory_xact_lock(
                hashtext(TG_TABLE_SCHEMA || '.access_log'), hashtext(NEW.municipality));
            SELECT chain_seq, entry_hash INTO last_seq, last_hash FROM access_log
                WHERE municipality = NEW.municipality ORDER BY chain_seq DESC LIMIT 1;
            NEW.at := clock_timestamp();
            NEW.chain_seq := coalesce(last_seq, 0) + 1;
            NEW.previous_hash := last_hash;
            NEW.entry_hash := access_log_digest(last_hash, NEW);
            RETURN NEW;
        END $$;
        CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log
            FOR EACH ROW EXECUTE FUNCTION access_log_chain();
        """ + municipality_policy("access_log")  # noqa: S608 - constants, no input


def access_log_vocabulary_sql() -> str:
    """SQL for a service's migration: the table's vocabularies (actor kinds, data categories,
    purposes, operations, outcomes) as the enums above have them now. A service whose log was
    made with fewer values (before `public`, `volunteer`, `processing`, `accountability`) gets
    a migration with this; running it again is harmless."""
    checks = {
        "actor_kind": f"actor_kind IN ({_quoted(ActorKind)})",
        "categories": f"categories <@ ARRAY[{_quoted(DataCategory)}]::text[]",
        "purpose": f"purpose IN ({_quoted(Purpose)})",
        "operation": f"operation IN ({_quoted(Operation)})",
        "outcome": f"outcome IN ({_quoted(Outcome)})",
    }
    return "".join(
        f"ALTER TABLE access_log DROP CONSTRAINT IF EXISTS access_log_{column}_check,"
        f" ADD CONSTRAINT access_log_{column}_check CHECK ({check});\n"
        for column, check in checks.items()
    )


def drop_access_log_sql() -> str:
    return (
        "DROP FUNCTION access_log_digest(bytea, access_log); DROP TABLE access_log;"
        " DROP FUNCTION access_log_append_only(); DROP FUNCTION access_log_chain();"
    )


def _quoted(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


# -- the repository ----------------------------------------------------------------------------

_COLUMNS = (
    "activity, operation, actor, actor_kind, roles, municipality, signal_id, subject_id,"
    " categories, purpose, outcome, trace_id, span_id"
)


async def record(conn: DbConnection, entries: Sequence[AccessEntry]) -> None:
    """Write the entries (one statement); in the caller's transaction, so the read and its
    entries commit together. In municipality order: each entry locks its municipality's chain
    until the transaction ends, and two writers taking the same chains in opposite orders
    deadlock (a stable sort keeps each municipality's entries in the caller's order)."""
    if not entries:
        return
    entries = sorted(entries, key=lambda e: e.municipality)
    await conn.execute(
        f"INSERT INTO access_log ({_COLUMNS})"  # noqa: S608 - a constant column list
        " SELECT a, o, ac, k, string_to_array(r, ','), m, s, sub, string_to_array(c, ','),"
        " p, oc, t, sp FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::uuid[], $8::uuid[], $9::text[], $10::text[], $11::text[],"
        " $12::text[], $13::text[]) AS e(a, o, ac, k, r, m, s, sub, c, p, oc, t, sp)",
        [e.activity for e in entries],
        [e.operation.value for e in entries],
        [e.actor for e in entries],
        [e.actor_kind.value for e in entries],
        [",".join(e.roles) for e in entries],
        [e.municipality for e in entries],
        [e.signal_id for e in entries],
        [e.subject_id for e in entries],
        [",".join(c.value for c in e.categories) for e in entries],
        [e.purpose.value for e in entries],
        [e.outcome.value for e in entries],
        [e.trace_id for e in entries],
        [e.span_id for e in entries],
    )


async def entries(
    conn: DbConnection,
    *,
    municipalities: Sequence[str],
    signal_ids: Sequence[UUID] = (),
    subject_ids: Sequence[UUID] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AccessRecord]:
    """The entries of these municipalities, newest first; narrowed to signals or persons (either
    matches) and a time window when given."""
    rows = await conn.fetch(
        f"SELECT entry_id, chain_seq, at, {_COLUMNS} FROM access_log"  # noqa: S608 - constant columns
        " WHERE municipality = ANY($1::text[])"
        " AND (cardinality($2::uuid[]) + cardinality($3::uuid[]) = 0"
        "      OR signal_id = ANY($2::uuid[]) OR subject_id = ANY($3::uuid[]))"
        " AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)"
        " ORDER BY at DESC, entry_id DESC LIMIT $6 OFFSET $7",
        list(municipalities),
        list(signal_ids),
        list(subject_ids),
        since,
        until,
        limit,
        offset,
    )
    return [AccessRecord.model_validate(dict(r)) for r in rows]


class ChainCheck(BaseModel):
    """Whether a municipality's chain still holds: every entry's hash over the previous one's
    and its own columns, and no entry missing between the oldest kept and the newest."""

    municipality: str
    entries: int
    first_seq: int | None
    last_seq: int | None
    intact: bool
    broken_at: int | None = Field(
        description="the first entry (chain_seq) whose hash or link does not hold"
    )


async def verify_chain(conn: DbConnection, municipality: str) -> ChainCheck:
    """Recompute the municipality's chain in the database (one pass, one row back)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS entries, min(chain_seq) AS first_seq, max(chain_seq) AS last_seq,"
        " min(chain_seq) FILTER (WHERE NOT holds) AS broken_at FROM ("
        "  SELECT chain_seq, entry_hash = access_log_digest(previous_hash, a)"
        "   AND (lag(chain_seq) OVER w IS NULL OR (lag(chain_seq) OVER w = chain_seq - 1"
        "   AND previous_hash = lag(entry_hash) OVER w)) AS holds"
        "  FROM access_log a WHERE municipality = $1 WINDOW w AS (ORDER BY chain_seq)) c",
        municipality,
    )
    assert row is not None
    return ChainCheck(municipality=municipality, intact=row["broken_at"] is None, **dict(row))


async def prune(conn: DbConnection, before: datetime) -> int:
    """Delete the entries written before `before` (the trigger refuses any younger than the
    floor: a retention below it fails instead of emptying the log)."""
    status = await conn.execute("DELETE FROM access_log WHERE at < $1", before)
    return int(status.split()[-1])


class AccessLogPruner(PeriodicJob):
    """Applies the access log's retention every `interval` seconds (the first run at start)."""

    def __init__(
        self, pool: Callable[[], asyncpg.Pool], *, retention_days: int, interval: float = 3600
    ) -> None:
        if retention_days < MIN_RETENTION_DAYS:
            raise ValueError(f"the access log keeps entries at least {MIN_RETENTION_DAYS} days")
        super().__init__("access log retention", interval=interval)
        self._pool, self.retention = pool, timedelta(days=retention_days)

    async def run(self, now: datetime | None = None) -> int:
        at = now or datetime.now(UTC)
        async with self._pool().acquire() as conn:
            removed = await prune(conn, at - self.retention)
        if removed:
            log.info("access log retention", removed=removed)
        return removed
