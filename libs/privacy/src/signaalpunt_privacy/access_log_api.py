"""`GET /v1/access-log`: a coordinator reads their municipality's access log ("who looked at this
person's data?"). The same route in every service that keeps an access log:

    api.include_router(access_log_api(lambda: service.pool, verifier, service="triage"))

Staff tokens with the role `coordinator` only. The route reads the municipalities in the token and
nothing else (a named municipality outside them is a 403), and row-level security on the table
holds the database to the same scope.

Reading the log is itself logged (`<service>.access_log_read`, category `processing`, purpose
`accountability`), in the same transaction as the read: one entry per signal or person asked
about, or one per municipality read without such a filter. So "who looked at who looked at this
person" has an answer too. Checking the chain shows no entry's content and is not logged.
"""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_runtime.http_api import requires

from . import access_log
from .access_log import (
    AccessEntry,
    AccessRecord,
    ChainCheck,
    DataCategory,
    Operation,
    Purpose,
)

COORDINATOR = "coordinator"

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token (problem+json)"},
    403: {"description": "not a coordinator of this municipality (problem+json)"},
    422: {"description": "a filter is not valid (problem+json)"},
}


def _not_a_number(value: object) -> object:
    # pydantic would also read "0.5" as a Unix time; the document promises an RFC 3339 date-time
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("a date-time with its offset, e.g. 2026-12-01T09:00:00Z")
    return value


DateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


class AccessLogFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: str | None = Field(
        default=None, pattern=r"^GM\d{4}$", description="default: every one in your token"
    )
    signal_id: list[UUID] = Field(default=[], max_length=100, description="repeat for several")
    subject_id: list[UUID] = Field(
        default=[], max_length=100, description="the person's pseudonymous id; repeat for several"
    )
    since: DateTime | None = Field(default=None, description="entries at or after this time")
    until: DateTime | None = Field(default=None, description="entries before this time")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class AccessLogPage(BaseModel):
    service: str
    entries: list[AccessRecord]
    limit: int
    offset: int


def access_log_api(
    pool: Callable[[], asyncpg.Pool], verifier: TokenVerifier, *, service: str
) -> APIRouter:
    router = APIRouter(tags=["access log"])
    Coordinator = Annotated[  # noqa: N806
        Principal, Depends(requires(verifier, [PrincipalKind.STAFF], [COORDINATOR]))
    ]

    @router.get("/v1/access-log", response_model=AccessLogPage, responses=PROBLEMS)
    async def read_access_log(
        principal: Coordinator, filters: Annotated[AccessLogFilter, Query()]
    ) -> AccessLogPage:
        """Who processed personal data in your municipality, newest first: narrow it to a
        signal or a person (either matches) and a time window. Entries hold ids, never names."""
        f = filters
        if f.municipality is not None:
            principal.require_municipality(f.municipality)
        scope = [f.municipality] if f.municipality else sorted(principal.municipalities)
        async with pool().acquire() as conn, conn.transaction():
            found = await access_log.entries(
                conn,
                municipalities=scope,
                signal_ids=f.signal_id,
                subject_ids=f.subject_id,
                since=f.since,
                until=f.until,
                limit=f.limit,
                offset=f.offset,
            )
            await access_log.record(conn, _reads(principal, service, scope, f))
        return AccessLogPage(service=service, entries=found, limit=f.limit, offset=f.offset)

    @router.get("/v1/access-log/chain", response_model=ChainCheck, responses=PROBLEMS)
    async def check_chain(
        principal: Coordinator,
        municipality: Annotated[str, Query(pattern=r"^GM\d{4}$")],
    ) -> ChainCheck:
        """Whether the municipality's log is intact: each entry's hash covers the previous
        entry's hash and its own columns, so a changed or removed entry shows as `broken_at`."""
        principal.require_municipality(municipality)
        async with pool().acquire() as conn:
            return await access_log.verify_chain(conn, municipality)

    return router


def _reads(
    principal: Principal, service: str, scope: list[str], f: AccessLogFilter
) -> list[AccessEntry]:
    """The entries for one read of the log: per signal and per person asked about (in each
    municipality read, since the filter does not say whose they are), else per municipality."""
    targets: list[dict[str, UUID]] = [{"signal_id": s} for s in f.signal_id] + [
        {"subject_id": s} for s in f.subject_id
    ]
    return [
        AccessEntry.of(
            principal,
            activity=f"{service}.access_log_read",
            operation=Operation.READ,
            municipality=municipality,
            categories=(DataCategory.PROCESSING,),
            purpose=Purpose.ACCOUNTABILITY,
            **target,
        )
        for municipality in scope
        for target in (targets or [{}])
    ]
