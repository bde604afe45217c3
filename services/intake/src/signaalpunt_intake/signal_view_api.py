"""The signal for those who handle it:

    GET /v1/signals/{signal_id}/handling   the reporter's words and how to reach the reporter and
                                           the person, decrypted, for the desk and coordinators

Triage keeps cues, never the words; the staff console shows this on a case's page. Staff tokens
with the role `coordinator` or `desk` for the signal's municipality; a signal of another
municipality (or an erased one) answers 404, as if it did not exist. Every answer is written to
the access log (purpose: handling the signal) in the transaction that read it.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from signaalpunt_access import Principal, PrincipalKind
from signaalpunt_privacy import access_log as log_book
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_runtime.http_api import problem, requires
from signaalpunt_runtime.openapi_contract import problems

from . import erasure_repository as repo
from .recording import Intake
from .subject_access import _opened

ACTIVITY = "intake.signal_view"
HANDLERS = ("coordinator", "desk")


class SignalForHandling(BaseModel):
    signal_id: UUID
    municipality: str
    channel: str
    received_at: datetime
    concern: dict[str, Any] = Field(description="the reporter's words (decrypted) and cues")
    reporter: dict[str, Any] = Field(description="kind, may_contact and contact details")
    subject: dict[str, Any] = Field(description="the person: name, address, phone, birth year")


def signal_view_api(intake: Intake) -> APIRouter:
    router = APIRouter(tags=["handling"])
    Handler = Annotated[  # noqa: N806
        Principal, Depends(requires(intake.verifier, [PrincipalKind.STAFF], list(HANDLERS)))
    ]

    @router.get(
        "/v1/signals/{signal_id}/handling",
        response_model=SignalForHandling,
        responses=problems(404),
    )
    async def signal_for_handling(
        signal_id: UUID, request: Request, principal: Handler
    ) -> SignalForHandling | JSONResponse:
        """The signal with its sealed values opened (`[erased]` once a key is shredded)."""
        async with intake.service.transaction() as work:
            rows = [
                row
                for municipality in sorted(principal.municipalities)
                for row in await repo.signals_held(work.connection, municipality, [signal_id])
            ]
            if not rows:
                return problem(
                    404,
                    "Not found / Niet gevonden",
                    "No such signal in your municipalities / Geen melding in uw gemeenten.",
                    kind="not-found",
                    instance=request.url.path,
                )
            held = await _opened(intake, rows[0])
            await log_book.record(
                work.connection,
                [
                    AccessEntry.of(
                        principal,
                        activity=ACTIVITY,
                        operation=Operation.READ,
                        municipality=held["municipality"],
                        signal_id=signal_id,
                        subject_id=held["subject_id"],
                        categories=(
                            DataCategory.IDENTITY,
                            DataCategory.CONTACT,
                            DataCategory.CONCERN,
                            DataCategory.REPORTER,
                        ),
                        purpose=Purpose.SIGNAL_HANDLING,
                    )
                ],
            )
        signal = held["signal"]
        return SignalForHandling(
            signal_id=signal_id,
            municipality=held["municipality"],
            channel=held["channel"],
            received_at=held["received_at"],
            concern=signal.get("concern") or {},
            reporter=signal.get("reporter") or {},
            subject=signal.get("subject") or {},
        )

    return router
