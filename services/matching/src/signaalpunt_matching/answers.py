"""The volunteer's answer link: see what you need to decide, then accept or decline, once.

The only routes without a bearer token: the signed link itself is the credential (see
`links.py`). A forged or altered link answers 404 (as an unknown one), an expired or used one 410.
The volunteer sees the person's first name, the village or district (never an address), the
needs and when the person can meet, and nothing of the signal: matching never holds its text.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from signaalpunt_contracts import FIRST_NAME_FIELD
from signaalpunt_privacy import SubjectErasedError, TamperedError, UnknownSubjectError, access_log
from signaalpunt_privacy.access_log import (
    AccessEntry,
    ActorKind,
    DataCategory,
    Operation,
    Outcome,
    Purpose,
)
from signaalpunt_runtime.http_api import problem
from signaalpunt_runtime.openapi_contract import problems

from .domain import TransitionRefusedError
from .handlers import LinkUsedError, Matching, NotFoundError, answer_by_link, open_link
from .links import ExpiredLinkError, ForgedLinkError
from .postcodes import nearest_place

Token = Annotated[str, Path(max_length=2000, description="the signed link's token")]


class Proposal(BaseModel):
    first_name: str | None = Field(description="the person's first name, when it was given")
    area: str | None = Field(description="village or district, never an address")
    needs: list[str]
    availability: list[str] = Field(description="when the person can meet")
    respond_by: datetime | None


class Choice(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Choice


class Answered(BaseModel):
    status: str


def add_answer_routes(api: FastAPI, ctx: Matching) -> None:
    def refused(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, (ForgedLinkError, NotFoundError)):
            return problem(
                404,
                "Unknown link / Onbekende link",
                "This link is not valid / Deze link is niet geldig.",
                kind="not-found",
            )
        return problem(
            410,
            "Link no longer valid / Link niet meer geldig",
            "This proposal was answered or has expired / Dit voorstel is al beantwoord of "
            "verlopen.",
            kind="link-gone",
        )

    @api.get(
        "/v1/matching/answers/{token}",
        response_model=Proposal,
        responses=problems(s410="the proposal was answered or has expired"),
    )
    async def show(token: Token, request: Request) -> Proposal | JSONResponse:
        """What the volunteer needs to decide (no token: the signed link is the credential)."""
        try:
            m, stored = await open_link(ctx, token)
        except (ForgedLinkError, NotFoundError, ExpiredLinkError, LinkUsedError) as exc:
            return refused(request, exc)
        first_name = None
        outcome = Outcome.OK
        if stored.first_name:
            try:
                first_name = await ctx.vault.open(
                    stored.subject_id, stored.first_name, field=FIRST_NAME_FIELD
                )
            except (SubjectErasedError, UnknownSubjectError, TamperedError):
                first_name = None  # erased or unreadable: the volunteer decides without it
                outcome = Outcome.ERASED
        # the person's first name, area and needs shown to a volunteer: logged, with the
        # volunteer (the link's holder) as the actor
        async with ctx.service.pool.acquire() as conn:
            await access_log.record(
                conn,
                [
                    AccessEntry.by(
                        f"volunteer:{m.volunteer_id}",
                        ActorKind.VOLUNTEER,
                        activity="matching.answer_link_view",
                        operation=Operation.READ,
                        municipality=m.municipality,
                        signal_id=stored.signal_id,
                        subject_id=stored.subject_id,
                        categories=(DataCategory.IDENTITY,),
                        purpose=Purpose.SIGNAL_HANDLING,
                        outcome=outcome,
                    )
                ],
            )
        return Proposal(
            first_name=first_name,
            area=nearest_place(*stored.near) if stored.near else None,
            needs=[n.value for n in stored.needs],
            availability=list(stored.availability),
            respond_by=m.respond_by,
        )

    @api.post(
        "/v1/matching/answers/{token}",
        response_model=Answered,
        responses=problems(s410="the proposal was answered or has expired"),
    )
    async def answer(token: Token, body: AnswerIn, request: Request) -> Answered | JSONResponse:
        """Accept or decline; works once and before the deadline."""
        try:
            m = await answer_by_link(ctx, token, accept=body.answer is Choice.ACCEPT)
        except (ForgedLinkError, NotFoundError, ExpiredLinkError, LinkUsedError) as exc:
            return refused(request, exc)
        except TransitionRefusedError:
            return refused(request, LinkUsedError())
        return Answered(status=m.status.value)
