"""The coordinator's social map API: import and export in HSDS JSON, services, route settings.

Only staff with the role `coordinator`, and only for their own municipalities: an imported
service must serve none but the coordinator's municipalities (a regional service is imported by
someone authorised for every municipality it serves), and a service of another municipality
answers 404. The tabular (CSV) form goes through the `signaalpunt-social-map` command, which
converts and sends the JSON here in batches, with a progress bar.
"""

import base64
import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_contracts import MunicipalityCode, Need, Route
from signaalpunt_runtime.http_api import problem, requires

from . import repository as repo
from .handlers import Referrals
from .hsds import MapOrganisation, Rejected, read_document
from .ranking import ServiceStatus

COORDINATOR = "coordinator"
MAX_IMPORT_ORGANISATIONS = 200


class RejectedRow(BaseModel):
    where: str
    id: str | None
    reason: str


class ImportReport(BaseModel):
    organisations: int
    services: int
    rejected: list[RejectedRow]


class ServiceView(BaseModel):
    service_id: UUID
    organisation_id: UUID
    name: str
    status: str
    areas: list[str]
    needs: list[str]
    languages: list[str]
    target_groups: list[str]
    delivery: list[str]
    min_age: int | None
    max_age: int | None
    open_places: int | None
    capacity_total: int | None
    channel: str

    @classmethod
    def of(cls, s: repo.ServiceRow) -> "ServiceView":
        o = s.offer
        return cls(
            service_id=o.service_id,
            organisation_id=o.organisation_id,
            name=o.name,
            status=o.status.value,
            areas=sorted(o.areas),
            needs=sorted(o.needs),
            languages=sorted(o.languages),
            target_groups=sorted(o.target_groups),
            delivery=sorted(o.delivery),
            min_age=o.min_age,
            max_age=o.max_age,
            open_places=o.open_places,
            capacity_total=s.capacity_total,
            channel=s.channel.value,
        )


class ServicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ServiceStatus | None = None
    open_places: int | None = Field(default=None, ge=0, le=100_000)
    capacity_total: int | None = Field(default=None, ge=0, le=100_000)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl


class WebhookOut(BaseModel):
    url: str
    secret: str = Field(description="Standard Webhooks secret: shown once, sign callbacks with it")


class RouteSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_refer: bool = Field(description="send the best proposal without waiting for the team")
    response_days: int = Field(default=3, ge=1, le=20, description="working days to answer")


def add_map_routes(api: FastAPI, ctx: Referrals, verifier: TokenVerifier) -> None:
    # only the signal point's coordinators keep the social map
    Coordinator = Annotated[  # noqa: N806
        Principal, Depends(requires(verifier, [PrincipalKind.STAFF], [COORDINATOR]))
    ]

    def not_found(request: Request) -> JSONResponse:
        return problem(
            404,
            "Not found / Niet gevonden",
            "No such service in your municipalities / Geen aanbod in uw gemeenten.",
            kind="not-found",
            instance=request.url.path,
        )

    @api.post("/v1/referral/map/import", response_model=ImportReport)
    async def import_map(
        document: Annotated[list[dict[str, Any]], Field(max_length=MAX_IMPORT_ORGANISATIONS)],
        principal: Coordinator,
    ) -> ImportReport:
        """HSDS organizations with their services; what cannot be taken is reported per row."""
        rejected: list[RejectedRow] = []
        organisations = services = 0
        async with ctx.service.transaction() as work:
            for item in read_document(document):
                if isinstance(item, Rejected):
                    rejected.append(RejectedRow(where=item.where, id=item.id, reason=item.reason))
                    continue
                mine = [s for s in item.services if s.offer.areas <= principal.municipalities]
                for s in item.services:
                    if s not in mine:
                        rejected.append(
                            RejectedRow(
                                where=f"organization {item.name}",
                                id=str(s.offer.service_id),
                                reason="serves a municipality you are not coordinator of",
                            )
                        )
                if not mine:
                    continue
                await repo.upsert_organisation(work.connection, _only(item))
                await repo.upsert_services(work.connection, mine)
                organisations += 1
                services += len(mine)
        return ImportReport(organisations=organisations, services=services, rejected=rejected)

    @api.get("/v1/referral/map/export")
    async def export_map(principal: Coordinator) -> list[dict[str, Any]]:
        """HSDS JSON of every service serving your municipalities, with live status and places."""
        async with ctx.service.pool.acquire() as conn:
            return await repo.export_document(conn, sorted(principal.municipalities))

    @api.get("/v1/referral/map/services", response_model=list[ServiceView])
    async def list_services(
        principal: Coordinator,
        need: Annotated[Need | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> list[ServiceView]:
        async with ctx.service.pool.acquire() as conn:
            rows = await repo.list_services(
                conn,
                sorted(principal.municipalities),
                need=need.value if need else None,
                limit=limit,
                offset=offset,
            )
        return [ServiceView.of(r) for r in rows]

    @api.patch("/v1/referral/map/services/{service_id}", response_model=ServiceView)
    async def patch_service(
        service_id: UUID, body: ServicePatch, request: Request, principal: Coordinator
    ) -> ServiceView | JSONResponse:
        """Set status (active, inactive, temporarily closed) or places."""
        async with ctx.service.transaction() as work:
            s = await repo.get_service(work.connection, service_id, for_update=True)
            if s is None or not s.offer.areas <= principal.municipalities:
                return not_found(request)
            await repo.set_service_state(
                work.connection,
                service_id,
                status=body.status,
                open_places=body.open_places,
                capacity_total=body.capacity_total,
            )
            updated = await repo.get_service(work.connection, service_id)
        assert updated is not None
        return ServiceView.of(updated)

    @api.put("/v1/referral/map/organisations/{organisation_id}/webhook", response_model=WebhookOut)
    async def set_webhook(
        organisation_id: UUID, body: WebhookIn, request: Request, principal: Coordinator
    ) -> WebhookOut | JSONResponse:
        """Where signed referrals go, and a new secret the organisation signs callbacks with."""
        # Standard Webhooks secrets are standard base64 of random bytes behind "whsec_"
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        async with ctx.service.transaction() as work:
            if not await repo.set_webhook(work.connection, organisation_id, str(body.url), secret):
                return not_found(request)
        return WebhookOut(url=str(body.url), secret=secret)

    @api.put("/v1/referral/routes/{municipality}/{route}", response_model=RouteSetting)
    async def put_route(
        municipality: MunicipalityCode, route: Route, body: RouteSetting, principal: Coordinator
    ) -> RouteSetting:
        """Automatic referral for a route of a municipality, and its response deadline."""
        principal.require_municipality(municipality)
        async with ctx.service.transaction() as work:
            await repo.put_route_setting(
                work.connection, municipality, route.value, body.auto_refer, body.response_days
            )
        return body


def _only(organisation: MapOrganisation) -> MapOrganisation:
    return organisation
