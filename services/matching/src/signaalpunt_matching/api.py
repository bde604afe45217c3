"""Matching's staff API: the volunteer registry, matches, the unmatched report and the VOG list.

Staff tokens only, every route through `requires` (token kind and role); every query is limited to
the caller's municipalities (another municipality's volunteer or match answers 404). Volunteer
coordinators (and the signal point's coordinators) keep the registry; social workers see and move
the matches of the volunteers coupled to them. Personal data is opened only for a single
volunteer's page, and that read is logged (who, which volunteer, why).
"""

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import MISSING, BaseModel, ConfigDict, Field
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_contracts import ErasureReason, MatchEndReason, MatchStatus, WeekSlot
from signaalpunt_contracts.partner import TEXT_PATTERN
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_privacy.access_log_api import access_log_api
from signaalpunt_runtime.http_api import install_problem_handlers, problem, requires
from signaalpunt_runtime.openapi_contract import problems

from . import repository as repo
from .answers import add_answer_routes
from .domain import TransitionRefusedError, Volunteer, VolunteerStatus
from .erasure import erase_volunteer
from .handlers import Matching, NotFoundError, staff_change
from .registry import IsoDate, Kilometres, Places, VolunteerIn, register
from .subject_access import add_subject_access_routes
from .views import MatchView

COORDINATOR = "coordinator"
VOLUNTEER_COORDINATOR = "volunteer_coordinator"
SOCIAL_WORKER = "social_worker"
REGISTRY_ROLES = (COORDINATOR, VOLUNTEER_COORDINATOR)
MATCH_ROLES = (COORDINATOR, VOLUNTEER_COORDINATOR, SOCIAL_WORKER)
MAX_BATCH = 500


class VolunteerView(BaseModel):
    volunteer_id: UUID
    municipality: str
    external_id: str | None
    status: str
    skills: list[str]
    trained_on: date | None
    languages: list[str]
    interests: list[str]
    availability: list[str]
    postcode_area: str
    max_travel_km: float
    max_matches: int
    load: int
    vog_issued_on: date | None
    vog_expires_on: date | None
    social_worker: str | None
    personal: dict[str, str | None] | None = Field(
        default=None, description="opened only on a single volunteer's page"
    )

    @classmethod
    def of(
        cls, r: repo.VolunteerRow, personal: dict[str, str | None] | None = None
    ) -> "VolunteerView":
        v = r.volunteer
        return cls(
            volunteer_id=v.volunteer_id,
            municipality=r.municipality,
            external_id=r.external_id,
            status=v.status.value,
            skills=sorted(s.value for s in v.skills),
            trained_on=v.trained_on,
            languages=sorted(v.languages),
            interests=sorted(v.interests),
            availability=sorted(v.availability),
            postcode_area=r.postcode_area,
            max_travel_km=v.max_travel_km,
            max_matches=v.max_matches,
            load=v.load,
            vog_issued_on=r.vog_issued_on,
            vog_expires_on=v.vog_expires_on,
            social_worker=v.social_worker,
            personal=personal,
        )


class ImportAnswer(BaseModel):
    created: list[UUID]
    updated: list[UUID]
    rejected: list[dict[str, Any]] = Field(description="[{index, reason}] per refused item")


class VolunteerChange(BaseModel):
    """What changes; a field left out stays (MISSING). The ones every volunteer has cannot be
    null (they could: an explicit null failed the update with a 500); the VOG dates and the
    social worker are cleared with null."""

    model_config = ConfigDict(extra="forbid")

    status: VolunteerStatus | MISSING = MISSING
    max_matches: Places | MISSING = MISSING
    max_travel_km: Kilometres | MISSING = MISSING
    vog_issued_on: IsoDate | MISSING | None = MISSING
    vog_expires_on: IsoDate | MISSING | None = MISSING
    social_worker: str | MISSING | None = Field(
        default=MISSING, max_length=200, pattern=TEXT_PATTERN
    )
    availability: list[WeekSlot] | MISSING = Field(default=MISSING, max_length=21)


class VolunteerErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ErasureReason = Field(
        description="a category, never free text (data_subject_request, consent_withdrawn, ...)"
    )


class VolunteerErased(BaseModel):
    volunteer_id: UUID
    matches_ended: int = Field(description="open proposals declined and matches ended for it")


class RequestView(BaseModel):
    match_request_id: UUID
    signal_id: UUID
    municipality: str
    needs: list[str]
    status: str
    attempts: int
    failed_constraint: str | None
    ruled_out: dict[str, int]
    matches: list[MatchView]


class StatusIn(BaseModel):
    # an ended match needs its end_reason: stated in the schema too (a client knows before)
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"properties": {"status": {"not": {"const": MatchStatus.ENDED.value}}}},
                {
                    "required": ["end_reason"],
                    "properties": {"end_reason": {"not": {"type": "null"}}},
                },
            ]
        },
    )

    status: MatchStatus = Field(description="active, ended (with end_reason) or declined")
    end_reason: MatchEndReason | None = None


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    real_match: bool = Field(description="did it become a real match (the social worker)")


def not_found(request: Request) -> JSONResponse:
    return problem(
        404,
        "Not found / Niet gevonden",
        "Not in your municipalities / Niet in uw gemeenten.",
        kind="not-found",
        instance=request.url.path,
    )


def conflict(request: Request, reason: str) -> JSONResponse:
    return problem(409, "Conflict / Conflict", reason, kind="conflict", instance=request.url.path)


def _overbooked(volunteer: Volunteer, changes: dict[str, Any]) -> bool:
    """Whether `changes` would leave fewer places than open matches: refused as a 409 (for an
    active volunteer the table's CHECK would refuse it, as a 500)."""
    limit = changes.get("max_matches", volunteer.max_matches)
    active = changes.get("status", volunteer.status) == VolunteerStatus.ACTIVE
    return bool(limit < volunteer.load and (active or "max_matches" in changes))


def build_api(ctx: Matching, verifier: TokenVerifier) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt matching",
        version="0.1.0",
        description=(
            "The volunteer registry, fair and explained matches of trained volunteers with a "
            "coupled social worker, signed one-time answer links, the unmatched report and the "
            "VOG list."
        ),
    )
    install_problem_handlers(api)
    staff = [PrincipalKind.STAFF]

    add_registration_routes(api, ctx, requires(verifier, staff, REGISTRY_ROLES))
    add_volunteer_routes(api, ctx, requires(verifier, staff, REGISTRY_ROLES))
    add_subject_access_routes(api, ctx, requires(verifier, staff, [COORDINATOR]))
    add_match_routes(api, ctx, requires(verifier, staff, MATCH_ROLES))
    add_answer_routes(api, ctx)
    api.include_router(access_log_api(lambda: ctx.service.pool, verifier, service="matching"))
    return api


def add_registration_routes(
    api: FastAPI, ctx: Matching, caller: Callable[[Request], Awaitable[Principal]]
) -> None:
    """Registering volunteers, one at a time or a batch (the CSV import)."""

    @api.post("/v1/matching/volunteers", status_code=201, response_model=ImportAnswer)
    async def add_volunteer(
        body: VolunteerIn, principal: Annotated[Principal, Depends(caller)]
    ) -> ImportAnswer | JSONResponse:
        """Register (or, by external_id, update) one volunteer; 422 with the reason if refused."""
        # someone else's municipality is a 403, not a fault in the volunteer's data (a 422)
        principal.require_municipality(body.municipality)
        result = await register(
            ctx,
            [body],
            municipalities=principal.municipalities,
            by=principal.subject,
            principal=principal,
        )
        if result.rejected:
            return problem(
                422,
                "Volunteer refused / Vrijwilliger geweigerd",
                result.rejected[0].reason,
                kind="volunteer-refused",
            )
        return ImportAnswer(created=result.created, updated=result.updated, rejected=[])

    @api.post("/v1/matching/volunteers/import", response_model=ImportAnswer)
    async def import_volunteers(
        body: Annotated[list[VolunteerIn], Field(max_length=MAX_BATCH)],
        principal: Annotated[Principal, Depends(caller)],
    ) -> ImportAnswer:
        """A batch (at most 500; the CLI sends a CSV in batches): refused items are listed by
        their index with the reason and never stop the rest."""
        result = await register(
            ctx,
            body,
            municipalities=principal.municipalities,
            by=principal.subject,
            principal=principal,
        )
        return ImportAnswer(
            created=result.created,
            updated=result.updated,
            rejected=[{"index": r.index, "reason": r.reason} for r in result.rejected],
        )

    @api.get("/v1/matching/volunteers", response_model=list[VolunteerView])
    async def volunteers(
        principal: Annotated[Principal, Depends(caller)],
        status: VolunteerStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        # bounded as triage's and referral's are: a larger one overflowed PostgreSQL's bigint (500)
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> list[VolunteerView]:
        """The registry of your municipalities, without personal data."""
        async with ctx.service.pool.acquire() as conn:
            rows = await repo.list_volunteers(
                conn,
                sorted(principal.municipalities),
                status.value if status else None,
                limit,
                offset,
            )
        return [VolunteerView.of(r) for r in rows]

    @api.get("/v1/matching/volunteers/vog-expiring")
    async def vog_list(
        principal: Annotated[Principal, Depends(caller)],
        days: Annotated[int, Query(ge=1, le=365)] = 30,
    ) -> list[dict[str, Any]]:
        """Active volunteers whose certificate of conduct expires within `days` (or has)."""
        async with ctx.service.pool.acquire() as conn:
            return await repo.vog_expiring(
                conn, sorted(principal.municipalities), ctx.today() + timedelta(days=days)
            )


def add_volunteer_routes(
    api: FastAPI, ctx: Matching, caller: Callable[[Request], Awaitable[Principal]]
) -> None:
    """The registry: lists, one volunteer, changes and erasure."""

    @api.get("/v1/matching/volunteers/{volunteer_id:uuid}", response_model=VolunteerView)
    async def volunteer(
        volunteer_id: UUID, request: Request, principal: Annotated[Principal, Depends(caller)]
    ) -> VolunteerView | JSONResponse:
        """One volunteer with their personal data opened (the read is logged)."""
        async with ctx.service.pool.acquire() as conn:
            row = await repo.get_volunteer(conn, volunteer_id)
        if row is None or row.municipality not in principal.municipalities:
            return not_found(request)
        personal = {
            name: (
                await ctx.vault.open(volunteer_id, value, field=f"volunteer.{name}")
                if value
                else None
            )
            for name, value in row.sealed.items()
        }
        async with ctx.service.pool.acquire() as conn:
            await access_log.record(
                conn,
                [
                    AccessEntry.of(
                        principal,
                        activity="matching.volunteer_view",
                        operation=Operation.READ,
                        municipality=row.municipality,
                        subject_id=volunteer_id,
                        categories=(DataCategory.IDENTITY, DataCategory.CONTACT),
                        purpose=Purpose.VOLUNTEER_REGISTRY,
                    )
                ],
            )
        return VolunteerView.of(row, personal)

    @api.patch(
        "/v1/matching/volunteers/{volunteer_id:uuid}",
        response_model=VolunteerView,
        responses=problems(s409="the volunteer still has open matches"),
    )
    async def change_volunteer(
        volunteer_id: UUID,
        body: VolunteerChange,
        request: Request,
        principal: Annotated[Principal, Depends(caller)],
    ) -> VolunteerView | JSONResponse:
        """Pause, leave, a new VOG, another social worker, capacity, availability."""
        changes = body.model_dump(exclude_unset=True)
        if "status" in changes:
            changes["status"] = changes["status"].value
        async with ctx.service.transaction() as work:
            row = await repo.get_volunteer(work.connection, volunteer_id, for_update=True)
            if row is None or row.municipality not in principal.municipalities:
                return not_found(request)
            if _overbooked(row.volunteer, changes):
                return conflict(request, f"the volunteer has {row.volunteer.load} open matches")
            await repo.update_volunteer(work.connection, volunteer_id, changes)
            changed = await repo.get_volunteer(work.connection, volunteer_id)
        assert changed is not None
        return VolunteerView.of(changed)

    @api.post("/v1/matching/volunteers/{volunteer_id}/erasure", response_model=VolunteerErased)
    async def erase(
        volunteer_id: UUID,
        body: VolunteerErasureIn,
        request: Request,
        principal: Annotated[Principal, Depends(caller)],
    ) -> VolunteerErased | JSONResponse:
        """Erase a volunteer's personal data on their request (AVG art. 17): their key is
        shredded, open proposals go to the next volunteer, open matches end
        (`volunteer_stopped`), the row keeps ids only; logged. Repeating it is harmless."""
        try:
            ended = await erase_volunteer(
                ctx, volunteer_id, principal=principal, reason=body.reason
            )
        except NotFoundError:
            return not_found(request)
        return VolunteerErased(volunteer_id=volunteer_id, matches_ended=ended)


def add_match_routes(
    api: FastAPI, ctx: Matching, caller: Callable[[Request], Awaitable[Principal]]
) -> None:
    """Matches, requests, staff changes, the follow-up and the unmatched report."""
    Staff = Annotated[Principal, Depends(caller)]  # noqa: N806

    @api.get("/v1/matching/matches", response_model=list[MatchView])
    async def matches(
        principal: Staff,
        status: MatchStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[MatchView]:
        """Matches of your municipalities; a social worker sees those of their volunteers."""
        mine = None if principal.roles & set(REGISTRY_ROLES) else principal.subject
        async with ctx.service.pool.acquire() as conn:
            found = await repo.list_matches(
                conn,
                sorted(principal.municipalities),
                status.value if status else None,
                mine,
                limit,
            )
        return [MatchView.of(m) for m in found]

    @api.get("/v1/matching/requests/{match_request_id}", response_model=RequestView)
    async def match_request(
        match_request_id: UUID, request: Request, principal: Staff
    ) -> RequestView | JSONResponse:
        """A request with every volunteer asked, their scores and reasons, and what ruled out
        the rest when nobody was found."""
        async with ctx.service.pool.acquire() as conn:
            stored = await repo.get_request(conn, match_request_id)
            if stored is None or stored.municipality not in principal.municipalities:
                return not_found(request)
            found = await repo.matches_of_request(conn, match_request_id)
        return RequestView(
            match_request_id=stored.match_request_id,
            signal_id=stored.signal_id,
            municipality=stored.municipality,
            needs=[n.value for n in stored.needs],
            status=stored.status,
            attempts=stored.attempts,
            failed_constraint=stored.failed_constraint,
            ruled_out=stored.ruled_out,
            matches=[MatchView.of(m) for m in found],
        )

    @api.post(
        "/v1/matching/matches/{match_id}/status",
        response_model=MatchView,
        responses=problems(s409="the match's status does not allow this change"),
    )
    async def change_status(
        match_id: UUID, body: StatusIn, request: Request, principal: Staff
    ) -> MatchView | JSONResponse:
        """active after the first meeting; ended with a reason; declined on the volunteer's
        behalf (the next volunteer is asked). Anything else: 409."""
        if body.status is MatchStatus.ENDED and body.end_reason is None:
            return conflict(request, "an ended match needs an end_reason")
        try:
            m = await staff_change(
                ctx,
                match_id,
                body.status,
                by=principal.subject,
                municipalities=principal.municipalities,
                end_reason=body.end_reason,
            )
        except NotFoundError:
            return not_found(request)
        except TransitionRefusedError as exc:
            return conflict(request, str(exc))
        return MatchView.of(m)

    @api.post(
        "/v1/matching/matches/{match_id}/follow-up",
        response_model=MatchView,
        responses=problems(s409="only an active or ended match has a follow-up"),
    )
    async def follow_up(
        match_id: UUID, body: FollowUpIn, request: Request, principal: Staff
    ) -> MatchView | JSONResponse:
        """The social worker's answer to the four-week follow-up."""
        async with ctx.service.transaction() as work:
            m = await repo.get_match(work.connection, match_id, for_update=True)
            if m is None or m.municipality not in principal.municipalities:
                return not_found(request)
            if m.status not in (MatchStatus.ACTIVE, MatchStatus.ENDED):
                return conflict(request, "only an active or ended match has a follow-up")
            await repo.record_follow_up(work.connection, match_id, body.real_match)
            changed = await repo.get_match(work.connection, match_id)
        assert changed is not None
        return MatchView.of(changed)

    @api.get("/v1/matching/unmatched")
    async def unmatched(principal: Staff) -> list[dict[str, Any]]:
        """Requests that found nobody, per municipality and the constraint that ruled out most
        (most frequent first)."""
        async with ctx.service.pool.acquire() as conn:
            return await repo.unmatched_report(conn, sorted(principal.municipalities))
