"""The coordinators' route for the right of access (AVG art. 15):

    POST /v1/subject-access/export   everything intake holds on the confirmed signals of one
                                     person, decrypted, with who processed it (the access log)

Find the signals first with `POST /v1/erasures/search`. Staff tokens with the coordinator role
for the municipality only; the export is written to the access log itself.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from signaalpunt_access import Principal, PrincipalKind
from signaalpunt_privacy.access_log import AccessRecord
from signaalpunt_runtime.http_api import problem, requires

from .erasure import COORDINATOR
from .recording import Intake
from .subject_access import UnknownSignalsError, export_person

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token (problem+json)"},
    403: {"description": "not a coordinator of this municipality (problem+json)"},
    404: {"description": "a signal is not in this municipality, or erased (problem+json)"},
    422: {"description": "the request is not valid (problem+json)"},
}


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^GM\d{4}$")
    signal_ids: list[UUID] = Field(
        min_length=1, max_length=500, description="the person's signals, confirmed by you"
    )


class HeldSignal(BaseModel):
    signal_id: UUID
    municipality: str
    channel: str
    submitted_by: str | None
    possible_duplicate_of: UUID | None
    handling: str
    route: str | None
    received_at: datetime
    closed_at: datetime | None
    closed_as: str | None
    reporter_anonymised_at: datetime | None
    subject_id: UUID
    signal: dict[str, Any] = Field(description="the signal as stored, every sealed value opened")


class PersonExport(BaseModel):
    """What intake holds on the person (AVG art. 15), and who processed it."""

    municipality: str
    exported_at: datetime
    exported_by: str
    signals: list[HeldSignal]
    accessed: list[AccessRecord] = Field(
        description="intake's access-log entries about these signals, before this export"
    )


def subject_access_api(intake: Intake) -> APIRouter:
    router = APIRouter(tags=["right of access"])
    Coordinator = Annotated[  # noqa: N806
        Principal, Depends(requires(intake.verifier, [PrincipalKind.STAFF], [COORDINATOR]))
    ]

    @router.post("/v1/subject-access/export", response_model=PersonExport, responses=PROBLEMS)
    async def export(
        body: ExportIn, request: Request, principal: Coordinator
    ) -> PersonExport | JSONResponse:
        """Everything intake holds on the confirmed signals, decrypted (a value whose key was
        shredded reads `[erased]`); recorded in the access log."""
        try:
            done = await export_person(intake, principal, body.municipality, body.signal_ids)
        except UnknownSignalsError as exc:
            return problem(
                404,
                "Not found / Niet gevonden",
                str(exc),
                kind="not-found",
                instance=request.url.path,
            )
        return PersonExport(
            municipality=done.municipality,
            exported_at=done.exported_at,
            exported_by=done.exported_by,
            signals=[HeldSignal.model_validate(s) for s in done.signals],
            accessed=done.accessed,
        )

    return router
