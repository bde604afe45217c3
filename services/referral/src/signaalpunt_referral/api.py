"""The team's referral API: a signal's help question and proposals, confirming and recording,
the gap report and the offer evaluation; composed with the social map and organisation routes.

Staff tokens (roles coordinator, desk, team) for their own municipalities: a signal or referral
of another municipality answers 404. Responses carry needs, statuses and reason codes, never the
person's words (those go only to the organisation the person consented to).
"""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_contracts import DeclineReason, ReferralStatus
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_privacy.access_log_api import access_log_api
from signaalpunt_runtime.http_api import install_problem_handlers, problem, requires
from signaalpunt_runtime.openapi_contract import problems

from . import repository as repo
from .handlers import Answer, ConflictError, NotFoundError, Referrals, answer, send
from .lifecycle import Actor, TransitionRefusedError
from .map_api import add_map_routes
from .match_outcome import RequestStatus
from .organisation_api import add_callback_routes, add_organisation_routes

TEAM_ROLES = ("coordinator", "desk", "team")


class ReferralView(BaseModel):
    referral_id: UUID
    service_id: UUID
    organisation_id: UUID
    service_name: str
    status: ReferralStatus
    version: int
    rank: int | None
    reasons: list[str]
    needs: list[str]
    channel: str
    respond_by: datetime | None
    escalated: bool
    decline_reason: str | None

    @classmethod
    def of(cls, r: repo.Referral) -> "ReferralView":
        return cls(
            referral_id=r.referral_id,
            service_id=r.service_id,
            organisation_id=r.organisation_id,
            service_name=r.service_name,
            status=r.status,
            version=r.version,
            rank=r.rank,
            reasons=list(r.reasons),
            needs=[n.value for n in r.needs],
            channel=r.channel.value,
            respond_by=r.respond_by,
            escalated=r.escalated_at is not None,
            decline_reason=r.decline_reason,
        )


class MatchRequestView(BaseModel):
    """A volunteer-type need sent to the matching service and what became of it (matches.v1)."""

    match_request_id: UUID
    needs: list[str]
    status: RequestStatus = Field(
        description="requested, proposed, declined, expired (the next volunteer is asked), "
        "accepted, active, ended, no_volunteer_found"
    )
    version: int
    attempt: int = Field(description="how many volunteers were asked so far")
    match_id: UUID | None
    social_worker: str | None = Field(description="the coupled social worker's staff id")
    respond_by: datetime | None
    end_reason: str | None
    failed_constraint: str | None = Field(
        description="with no_volunteer_found: the constraint that ruled out most volunteers"
    )
    updated_at: datetime

    @classmethod
    def of(cls, r: repo.MatchRequest) -> "MatchRequestView":
        return cls(
            match_request_id=r.match_request_id,
            needs=[n.value for n in r.needs],
            status=RequestStatus(r.status),
            version=r.version,
            attempt=r.attempt,
            match_id=r.match_id,
            social_worker=r.social_worker,
            respond_by=r.respond_by,
            end_reason=r.end_reason,
            failed_constraint=r.failed_constraint,
            updated_at=r.updated_at,
        )


class SignalReferrals(BaseModel):
    signal_id: UUID
    needs: list[str]
    languages: list[str]
    mobility: str
    consent_to_refer: bool
    ruled_out: dict[str, int] = Field(description="how many offers each constraint ruled out")
    referrals: list[ReferralView]
    match_requests: list[MatchRequestView] = Field(
        default=[], description="volunteer-type needs sent to the matching service"
    )


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    decline_reason: DeclineReason | None = None
    note: str | None = Field(default=None, max_length=2000, description="stored sealed")


def build_api(ctx: Referrals, verifier: TokenVerifier) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt referral",
        version="0.1.0",
        description=(
            "The social map (Open Referral HSDS), ranked proposals for each help question, and "
            "closed-loop referrals: organisations answer by scoped token or signed callback."
        ),
    )
    install_problem_handlers(api)
    # only staff of the signal point refer people; the municipality is checked per row
    Team = Annotated[  # noqa: N806
        Principal, Depends(requires(verifier, [PrincipalKind.STAFF], TEAM_ROLES))
    ]

    def refused(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            return problem(
                404,
                "Not found / Niet gevonden",
                "No such signal or referral in your municipalities / Niet in uw gemeenten.",
                kind="not-found",
                instance=request.url.path,
            )
        return problem(
            409, "Conflict / Conflict", str(exc), kind="conflict", instance=request.url.path
        )

    @api.get("/v1/referral/signals/{signal_id}", response_model=SignalReferrals)
    async def signal_referrals(
        signal_id: UUID, request: Request, principal: Team
    ) -> SignalReferrals | JSONResponse:
        """The help question's needs, the proposals with their reasons, every referral, and what
        became of its match requests (volunteers)."""
        async with ctx.service.pool.acquire() as conn, conn.transaction():
            stored = await repo.get_help_question(conn, signal_id)
            if stored is None or stored.municipality not in principal.municipalities:
                return refused(request, NotFoundError())
            referrals = await repo.referrals_of(conn, signal_id)
            requests = await repo.match_requests_of(conn, signal_id)
            ruled_out = await repo.ruled_out_of(conn, signal_id)
            # the person's needs, languages, mobility and referrals shown to the team: logged
            await access_log.record(
                conn,
                [
                    AccessEntry.of(
                        principal,
                        activity="referral.team_view",
                        operation=Operation.READ,
                        municipality=stored.municipality,
                        signal_id=signal_id,
                        subject_id=stored.subject_id,
                        categories=(DataCategory.CASE,),
                        purpose=Purpose.SIGNAL_HANDLING,
                    )
                ],
            )
        q = stored.question
        return SignalReferrals(
            signal_id=signal_id,
            needs=[n.value for n in q.needs],
            languages=list(q.languages),
            mobility=q.mobility.value,
            consent_to_refer=q.consent_to_refer,
            ruled_out=ruled_out,
            referrals=[ReferralView.of(r) for r in referrals],
            match_requests=[MatchRequestView.of(r) for r in requests],
        )

    @api.post(
        "/v1/referral/referrals/{referral_id}/send",
        response_model=ReferralView,
        responses=problems(s409="no consent, or the referral's status does not allow sending"),
    )
    async def confirm(
        referral_id: UUID, request: Request, principal: Team
    ) -> ReferralView | JSONResponse:
        """The team confirms a proposal: it goes to the organisation (409 without consent)."""
        try:
            r = await send(
                ctx, referral_id, municipalities=principal.municipalities, staff=principal.subject
            )
        except (NotFoundError, ConflictError, TransitionRefusedError) as exc:
            return refused(request, exc)
        return ReferralView.of(r)

    @api.post(
        "/v1/referral/referrals/{referral_id}/status",
        response_model=ReferralView,
        responses=problems(s409="the referral's status does not allow this one"),
    )
    async def record_status(
        referral_id: UUID, body: StatusIn, request: Request, principal: Team
    ) -> ReferralView | JSONResponse:
        """Withdraw, or record what an organisation without a system said by phone."""
        try:
            r, _ = await answer(
                ctx,
                referral_id,
                Answer(body.status, body.decline_reason, body.note),
                actor=Actor.TEAM,
                by=principal.subject,
                municipalities=principal.municipalities,
            )
        except (NotFoundError, ConflictError, TransitionRefusedError) as exc:
            return refused(request, exc)
        return ReferralView.of(r)

    @api.get("/v1/referral/gaps")
    async def gap_report(principal: Team) -> list[dict[str, object]]:
        """Needs no eligible offer met (or all were full), per municipality, need, risk group."""
        async with ctx.service.pool.acquire() as conn:
            return await repo.gap_report(conn, sorted(principal.municipalities))

    @api.get("/v1/referral/evaluation")
    async def offer_evaluation(principal: Team) -> list[dict[str, object]]:
        """Per offer: referrals received, accepted, completed, declined, and the decline reasons."""
        async with ctx.service.pool.acquire() as conn:
            rows = await repo.offer_evaluation(conn, sorted(principal.municipalities))
            reasons = await repo.decline_reasons(conn, sorted(principal.municipalities))
        return [{**row, "decline_reasons": reasons.get(row["service_id"], {})} for row in rows]

    add_map_routes(api, ctx, verifier)
    add_organisation_routes(api, ctx, verifier)
    add_callback_routes(api, ctx)
    api.include_router(access_log_api(lambda: ctx.service.pool, verifier, service="referral"))
    return api
