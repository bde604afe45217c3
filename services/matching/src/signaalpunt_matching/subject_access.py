"""What matching holds about a signal's person, for a subject-access request (AVG art. 15).

`GET /v1/matching/signals/{signal_id}` (coordinators of the signal's municipality): every match
request of the signal with the person's first name opened and every volunteer asked. The answer
is one part of the signal point's answer to the person; `signaalpunt-erasure export
--service matching=…` collects it with intake's and the other services' parts
(docs/privacy.md). The read is logged (`matching.subject_access`, purpose
`data_subject_access`).
"""

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from signaalpunt_access import Principal
from signaalpunt_contracts import FIRST_NAME_FIELD
from signaalpunt_privacy import SubjectErasedError, UnknownSubjectError, access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_runtime.http_api import problem

from . import repository as repo
from .handlers import Matching
from .views import MatchView


class HeldRequest(BaseModel):
    """A match request as matching holds it, the person's first name opened."""

    match_request_id: UUID
    needs: list[str]
    languages: list[str]
    interests: list[str]
    availability: list[str]
    near: tuple[float, float] | None = Field(description="the neighbourhood (0.01 degrees)")
    start_on: date
    first_name: str | None = Field(description="opened; `[erased]` when its key is shredded")
    status: str
    requested_at: datetime
    matches: list[MatchView]


class HeldForSignal(BaseModel):
    """What matching holds about a signal's person (AVG art. 15)."""

    service: str = "matching"
    signal_id: UUID
    requests: list[HeldRequest]


def add_subject_access_routes(
    api: FastAPI, ctx: Matching, caller: Callable[[Request], Awaitable[Principal]]
) -> None:
    Coordinator = Annotated[Principal, Depends(caller)]  # noqa: N806

    @api.get("/v1/matching/signals/{signal_id}", response_model=HeldForSignal)
    async def held_for_signal(
        signal_id: UUID, request: Request, principal: Coordinator
    ) -> HeldForSignal | JSONResponse:
        """Everything matching holds about a signal's person, the first name opened, for a
        subject-access request (AVG art. 15; the read is logged). 404 when nothing is held."""
        held: list[HeldRequest] = []
        async with ctx.service.pool.acquire() as conn, conn.transaction():
            stored = [
                r
                for r in await repo.requests_of_signal(conn, signal_id)
                if r.municipality in principal.municipalities
            ]
            if not stored:
                return problem(
                    404,
                    "Not found / Niet gevonden",
                    "Matching holds nothing about this signal in your municipalities.",
                    kind="not-found",
                    instance=request.url.path,
                )
            for r in stored:
                first_name = None
                if r.first_name:
                    try:
                        first_name = await ctx.vault.open(
                            r.subject_id, r.first_name, field=FIRST_NAME_FIELD
                        )
                    except (SubjectErasedError, UnknownSubjectError):
                        first_name = "[erased]"
                held.append(
                    HeldRequest(
                        match_request_id=r.match_request_id,
                        needs=[n.value for n in r.needs],
                        languages=sorted(r.languages),
                        interests=sorted(r.interests),
                        availability=list(r.availability),
                        near=r.near,
                        start_on=r.start_on,
                        first_name=first_name,
                        status=r.status,
                        requested_at=r.requested_at,
                        matches=[
                            MatchView.of(m)
                            for m in await repo.matches_of_request(conn, r.match_request_id)
                        ],
                    )
                )
            await access_log.record(
                conn,
                [
                    AccessEntry.of(
                        principal,
                        activity="matching.subject_access",
                        operation=Operation.EXPORT,
                        municipality=r.municipality,
                        signal_id=signal_id,
                        subject_id=r.subject_id,
                        categories=(DataCategory.IDENTITY, DataCategory.CASE),
                        purpose=Purpose.DATA_SUBJECT_ACCESS,
                    )
                    for r in stored
                ],
            )
        return HeldForSignal(signal_id=signal_id, requests=held)
