"""The operators' window on the delivery log: what went out, what waits, what failed — never to
whom (no addresses, no names), only the kind of recipient. Every endpoint checks the bearer
token's municipality and role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_privacy.access_log_api import access_log_api
from signaalpunt_runtime import Service
from signaalpunt_runtime.http_api import install_problem_handlers, requires
from signaalpunt_runtime.openapi_contract import problems

from . import repository

READ_ROLES = ("operator", "coordinator")
RETRY_ROLES = ("operator",)
Municipality = Annotated[str, Query(pattern=r"^GM\d{4}$", description="CBS code, e.g. GM0715")]


class StatusFilter(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class DeliveryView(BaseModel):
    delivery_id: UUID
    reason_event_id: UUID
    reason_type: str
    signal_id: UUID | None
    rule: str
    template: str
    language: str
    channel: str
    recipient_kind: str
    status: str
    queued_reason: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None


class Deliveries(BaseModel):
    municipality: str
    deliveries: list[DeliveryView]


def build_api(service: Service, verifier: TokenVerifier, clock: Callable[[], datetime]) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt notifications",
        version="1",
        description="The delivery log for operators and coordinators (no addresses).",
    )
    install_problem_handlers(api)
    api.include_router(access_log_api(lambda: service.pool, verifier, service="notifications"))
    # the delivery log is for staff of the signal point: a partner's or a service's token
    # carrying an `operator` role reads nothing
    reader = Depends(requires(verifier, [PrincipalKind.STAFF], READ_ROLES))
    resender = Depends(requires(verifier, [PrincipalKind.STAFF], RETRY_ROLES))

    @api.get("/v1/deliveries")
    async def deliveries(
        municipality: Municipality,
        status: StatusFilter | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        signal_id: Annotated[
            UUID | None, Query(description="only the messages sent for this signal (its case)")
        ] = None,
        principal: Principal = reader,
    ) -> Deliveries:
        """The newest messages of a municipality, with their status; with `signal_id`, those
        of one case (the staff console's case page)."""
        principal.require_municipality(municipality)
        async with service.pool.acquire() as conn:
            rows = await repository.list_deliveries(
                conn, municipality, status.value if status else None, limit, signal_id
            )
        return Deliveries(
            municipality=municipality, deliveries=[DeliveryView(**row) for row in rows]
        )

    @api.post(
        "/v1/deliveries/{delivery_id}/retry",
        status_code=202,
        responses=problems(s404="no failed message with this id in this municipality"),
    )
    async def retry(
        delivery_id: UUID,
        municipality: Municipality,
        principal: Principal = resender,
    ) -> dict[str, str]:
        """Send a failed message again (after fixing the cause), under the same delivery id."""
        principal.require_municipality(municipality)
        async with service.pool.acquire() as conn:
            done = await repository.retry_failed(conn, delivery_id, municipality, clock())
        if not done:
            raise HTTPException(404, "no failed message with this id in this municipality")
        return {"delivery_id": str(delivery_id), "status": "pending"}

    return api
