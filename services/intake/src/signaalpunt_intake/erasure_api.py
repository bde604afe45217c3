"""The coordinators' erasure API (AVG art. 17): find a person's signals, request, approve.

    POST /v1/erasures/search        the blind index's candidates (by name/birth year/postcode,
                                    or by signals the coordinator has in front of them)
    POST /v1/erasures               erase the confirmed signals (or wait for a second coordinator)
    POST /v1/erasures/{id}/approve  four eyes: another coordinator carries it out
    GET  /v1/erasures/{id}          where a request stands

Every route needs a staff token with the coordinator role for the municipality.
"""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from signaalpunt_access import Principal, PrincipalKind
from signaalpunt_contracts import ErasureReason, ErasureScope
from signaalpunt_runtime.http_api import problem, requires
from signaalpunt_runtime.openapi_contract import problems

from .erasure import (
    COORDINATOR,
    Candidate,
    ErasureRequest,
    OpenAcuteCasesError,
    SameCoordinatorError,
)
from .erasure_workflow import (
    NotAwaitingApprovalError,
    UnknownSignalsError,
    approve_erasure,
    erasure_of,
    find_like,
    find_person,
    request_erasure,
)
from .recording import Intake

MUNICIPALITY = Field(pattern=r"^GM\d{4}$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchIn(_In):
    """Either the person's name (with birth year and postcode, as the blind index has them) or
    signals the coordinator already has: the answer lists every signal linked to them."""

    # the rule of `_something`, in the schema too: a client knows before sending
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}},
                {"required": ["signal_ids"], "properties": {"signal_ids": {"minItems": 1}}},
            ]
        }
    )

    municipality: str = MUNICIPALITY
    name: str | None = Field(default=None, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    postcode: str | None = Field(default=None, max_length=10)
    signal_ids: list[UUID] = Field(default=[], max_length=100)

    @model_validator(mode="after")
    def _something(self) -> "SearchIn":
        if not self.name and not self.signal_ids:
            raise ValueError("give the person's name or one of their signals")
        return self


class CandidateView(BaseModel):
    signal_id: UUID
    channel: str
    received_at: datetime
    handling: str
    open_acute: bool

    @classmethod
    def of(cls, c: Candidate) -> "CandidateView":
        return cls(
            signal_id=c.signal_id,
            channel=c.channel,
            received_at=c.received_at,
            handling=c.handling,
            open_acute=c.open_acute,
        )


class Candidates(BaseModel):
    candidates: list[CandidateView]


class ErasureIn(_In):
    municipality: str = MUNICIPALITY
    signal_ids: list[UUID] = Field(min_length=1, max_length=500, description="confirmed by you")
    scope: ErasureScope = ErasureScope.PERSON
    reason: ErasureReason
    confirm_open_acute: bool = Field(
        default=False, description="required when a signal has an open acute case"
    )


class ErasureView(BaseModel):
    erasure_id: UUID
    municipality: str
    scope: ErasureScope
    reason: ErasureReason
    signal_ids: list[UUID]
    state: str = Field(description="awaiting_approval or done")
    requested_by: str
    approved_by: str | None

    @classmethod
    def of(cls, r: ErasureRequest) -> "ErasureView":
        return cls(
            erasure_id=r.erasure_id,
            municipality=r.municipality,
            scope=r.scope,
            reason=r.reason,
            signal_ids=list(r.signal_ids),
            state=r.state,
            requested_by=r.requested_by,
            approved_by=r.approved_by,
        )


def erasure_api(intake: Intake) -> APIRouter:
    router = APIRouter(tags=["erasure"])
    # settled before the body or the id is looked at (the workflow checks the municipality)
    Coordinator = Annotated[  # noqa: N806
        Principal, Depends(requires(intake.verifier, [PrincipalKind.STAFF], [COORDINATOR]))
    ]

    def not_found(request: Request, what: str) -> JSONResponse:
        return problem(
            404, "Not found / Niet gevonden", what, kind="not-found", instance=request.url.path
        )

    @router.post("/v1/erasures/search", response_model=Candidates, responses=problems(404))
    async def search(body: SearchIn, principal: Coordinator) -> Candidates:
        """The signals the blind index links to the person: confirm which are really theirs."""
        found: dict[UUID, Candidate] = {}
        if body.name:
            for c in await find_person(
                intake,
                principal,
                body.municipality,
                name=body.name,
                birth_year=body.birth_year,
                postcode=body.postcode,
            ):
                found[c.signal_id] = c
        if body.signal_ids:
            for c in await find_like(intake, principal, body.municipality, body.signal_ids):
                found[c.signal_id] = c
        return Candidates(candidates=[CandidateView.of(c) for c in found.values()])

    @router.post(
        "/v1/erasures",
        response_model=ErasureView,
        status_code=202,
        responses={
            200: {"model": ErasureView, "description": "erased (no four eyes)"},
            **problems(404, s409="a signal has an open acute case (confirm_open_acute)"),
        },
    )
    async def erase(
        body: ErasureIn, request: Request, principal: Coordinator
    ) -> ErasureView | JSONResponse:
        """Erase the confirmed signals: 202 awaiting a second coordinator (four eyes), or 200
        when carried out at once; 409 when a signal has an open acute case and
        `confirm_open_acute` is not set."""
        try:
            done = await request_erasure(
                intake,
                principal,
                municipality=body.municipality,
                signal_ids=body.signal_ids,
                scope=body.scope,
                reason=body.reason,
                confirm_open_acute=body.confirm_open_acute,
            )
        except UnknownSignalsError as exc:
            return not_found(request, str(exc))
        except OpenAcuteCasesError as exc:
            return problem(
                409,
                "Open acute case / Open acute casus",
                "Some signals have an open acute case: confirm with confirm_open_acute / "
                "Er loopt een acute casus: bevestig met confirm_open_acute.",
                kind="open-acute-case",
                errors=[
                    {"field": "signal_ids", "type": "open_acute", "signal_id": str(s)}
                    for s in exc.signal_ids
                ],
                instance=request.url.path,
            )
        view = ErasureView.of(done)
        return JSONResponse(
            view.model_dump(mode="json"), status_code=200 if done.state == "done" else 202
        )

    @router.post(
        "/v1/erasures/{erasure_id:uuid}/approve",
        response_model=ErasureView,
        responses=problems(404, s409="four eyes: the requesting coordinator cannot approve"),
    )
    async def approve(
        erasure_id: UUID, request: Request, principal: Coordinator
    ) -> ErasureView | JSONResponse:
        """Four eyes: another coordinator of the municipality carries the erasure out."""
        try:
            return ErasureView.of(await approve_erasure(intake, principal, erasure_id))
        except NotAwaitingApprovalError:
            return not_found(request, "No erasure awaiting approval with this id")
        except SameCoordinatorError as exc:
            return problem(
                409,
                "Four eyes / Vier ogen",
                str(exc),
                kind="four-eyes",
                instance=request.url.path,
            )

    @router.get(
        "/v1/erasures/{erasure_id:uuid}", response_model=ErasureView, responses=problems(404)
    )
    async def status(
        erasure_id: UUID, request: Request, principal: Coordinator
    ) -> ErasureView | JSONResponse:
        found = await erasure_of(intake, principal, erasure_id)
        if found is None:
            return not_found(request, "No erasure with this id in your municipalities")
        return ErasureView.of(found)

    return router
