"""The coordinator and desk API: review queue, decisions, edit locks and case steps.

Staff tokens only. The regisseur (role `coordinator`) confirms or changes decisions and takes the
edit lock; the desk (role `desk`) and coordinators record intake outcomes. Everyone sees only
the municipalities in their token: a case of another municipality answers 404, as if it did not
exist. Responses carry decisions, cue names and states, never the reporter's words.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_contracts import (
    CONTACT_FIELDS,
    FIRST_NAME_FIELD,
    TEXT_FIELD,
    Advice,
    CaseState,
    CaseStep,
    CloseReason,
    DecidedBy,
    FiredRule,
    HelpQuestion,
    Interest,
    Mobility,
    MunicipalityCode,
    Need,
    Priority,
    RiskGroup,
    Route,
    WeekSlot,
)
from signaalpunt_contracts.partner import EMAIL_PATTERN, TEXT_PATTERN
from signaalpunt_privacy import SubjectErasedError, access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_privacy.access_log_api import access_log_api
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.http_api import install_problem_handlers, problem, requires
from signaalpunt_runtime.openapi_contract import link, linked, problems

from . import repository
from .handlers import (
    Change,
    ConflictError,
    NotFoundError,
    Triage,
    coordinator_decision,
    record_case_step,
)
from .help_question import draft_help_question
from .lifecycle import REFERRAL_OUTCOMES, TransitionRefusedError

COORDINATOR = "coordinator"
DESK = "desk"

PHONE_PATTERN = r"^\+?[0-9][0-9 ()-]{4,38}[0-9]$"
"""A phone number as people write it: digits, spaces, brackets and dashes, an optional +."""


class CaseView(BaseModel):
    signal_id: UUID
    municipality: str
    channel: str
    state: CaseState
    route: Route
    priority: Priority
    risk_groups: tuple[RiskGroup, ...]
    advice: tuple[Advice, ...]
    needs_review: bool
    explanation: tuple[FiredRule, ...]
    decision: int
    decided_by: DecidedBy
    rules_version: str
    received_at: datetime
    first_contact_due: datetime
    first_contact_at: datetime | None
    overdue: bool
    contact_attempts: int
    close_reason: CloseReason | None
    review_due: datetime | None = None  # possible acute: a coordinator reviews by then
    reviewed_at: datetime | None = None

    @classmethod
    def of(cls, case: repository.Case, now: datetime) -> "CaseView":
        return cls(
            signal_id=case.signal_id,
            municipality=case.municipality,
            channel=case.channel,
            state=case.state,
            route=case.route,
            priority=case.priority,
            risk_groups=case.risk_groups,
            advice=case.advice,
            needs_review=case.needs_review,
            explanation=case.explanation,
            decision=case.decision,
            decided_by=case.decided_by,
            rules_version=case.rules_version,
            received_at=case.received_at,
            first_contact_due=case.first_contact_due,
            first_contact_at=case.first_contact_at,
            overdue=case.overdue(now),
            contact_attempts=case.contact_attempts,
            close_reason=case.close_reason,
            review_due=case.review_due,
            reviewed_at=case.reviewed_at,
        )


class Queue(BaseModel):
    items: list[CaseView]
    limit: int
    offset: int


class QueueFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: MunicipalityCode | None = None
    route: Route | None = None
    priority: Priority | None = None
    state: CaseState | None = Field(default=None, description="default: every open state")
    overdue: bool | None = None
    needs_review: bool | None = None
    risk_group: RiskGroup | None = Field(default=None, description="cases with this risk group")
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class LockView(BaseModel):
    signal_id: UUID
    holder: str
    expires_at: datetime


class ReferralOutcome(BaseModel):
    """The latest outcome of one of the signal's referrals, and the close reason it gives."""

    referral_id: UUID
    status: str = Field(description="completed, referred_elsewhere, no_longer_interested, ...")
    close_reason: CloseReason


class CaseDetail(BaseModel):
    case: CaseView
    decisions: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    lock: LockView | None
    referral_outcome: ReferralOutcome | None = Field(
        default=None,
        description="the case can be closed with it: step closed, close_with_referral_outcome",
    )


class DecisionIn(BaseModel):
    """Leave a field out to keep it; send none of route/risk_groups/priority to confirm."""

    model_config = ConfigDict(extra="forbid")

    route: Route | None = None
    risk_groups: list[RiskGroup] | None = None
    priority: Priority | None = None
    reason: str | None = Field(default=None, max_length=2000, description="required for a change")
    based_on_decision: int | None = Field(
        default=None, ge=1, description="the decision number you saw; 409 when it moved on"
    )


class ContactIn(BaseModel):
    """How the person wants to be reached by the organisation they are referred to."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=TEXT_PATTERN)
    phone: str | None = Field(default=None, min_length=6, max_length=40, pattern=PHONE_PATTERN)
    email: str | None = Field(default=None, max_length=200, pattern=EMAIL_PATTERN)


class HelpQuestionIn(BaseModel):
    """The person's help question (hulpvraag); `text` is sealed before it leaves triage."""

    model_config = ConfigDict(extra="forbid")

    needs: list[Need] = Field(min_length=1, max_length=11)
    text: str | None = Field(default=None, max_length=2000, description="stored sealed")
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = Field(
        default=["nl"], max_length=10
    )
    mobility: Mobility = Mobility.TRAVELS_INDEPENDENTLY
    age: int | None = Field(default=None, ge=0, le=120)
    near_lat: float | None = Field(default=None, ge=50.0, le=54.0)
    near_lon: float | None = Field(default=None, ge=3.0, le=8.0)
    consent_to_refer: bool
    derived_from_cues: bool = False
    # what a volunteer match uses (passed on in the match request); the first name is the only
    # personal value a volunteer sees before accepting, so it is sealed like the words
    first_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        pattern=TEXT_PATTERN,
        description="the person's first name, for a volunteer's proposal; stored sealed",
    )
    interests: list[Interest] = Field(default=[], max_length=20)
    availability: list[WeekSlot] = Field(
        default=[], max_length=21, description="when the person can meet, e.g. tue_afternoon"
    )
    start_on: date | None = Field(default=None, description="from when help is wanted")
    contact: ContactIn | None = Field(
        default=None,
        description="how the organisation the person is referred to may reach them: give it "
        "only when the person agreed to that (it is their consent to share it); stored sealed",
    )

    def plain(self) -> dict[str, str]:
        """The values triage seals before they leave, by the field they are sealed under."""
        values = {
            TEXT_FIELD: self.text,
            FIRST_NAME_FIELD: self.first_name,
            CONTACT_FIELDS["name"]: self.contact.name if self.contact else None,
            CONTACT_FIELDS["phone"]: self.contact.phone if self.contact else None,
            CONTACT_FIELDS["email"]: self.contact.email if self.contact else None,
        }
        return {field: v.strip() for field, v in values.items() if v and v.strip()}

    def contract(self) -> HelpQuestion:
        near = (
            {"lat": self.near_lat, "lon": self.near_lon}
            if self.near_lat is not None and self.near_lon is not None
            else None
        )
        return HelpQuestion.model_validate(
            {
                "needs": tuple(dict.fromkeys(self.needs)),
                "languages": tuple(dict.fromkeys(self.languages)),
                "mobility": self.mobility,
                "age": self.age,
                "near": near,
                "consent_to_refer": self.consent_to_refer,
                "derived_from_cues": self.derived_from_cues,
                "interests": tuple(dict.fromkeys(self.interests)),
                "availability": tuple(dict.fromkeys(self.availability)),
                "start_on": self.start_on,
                "consent_to_share_contact": self.contact is not None,
            }
        )


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: CaseStep
    close_reason: CloseReason | None = None
    note: str | None = Field(default=None, max_length=2000, description="stored sealed")
    help_question: HelpQuestionIn | None = Field(
        default=None, description="with step help_question_recorded (and only then)"
    )
    close_with_referral_outcome: bool = Field(
        default=False,
        description="with step closed, instead of a close_reason: the reason the latest "
        "referral outcome gives (completed → support_arranged, ...); 409 when none has one",
    )


async def log_access(
    conn: DbConnection,
    principal: Principal,
    cases: Sequence[repository.Case],
    *,
    activity: str,
    operation: Operation = Operation.READ,
) -> None:
    """One access-log entry per case shown or changed (ids only), on the request's connection."""
    await access_log.record(
        conn,
        [
            AccessEntry.of(
                principal,
                activity=activity,
                operation=operation,
                municipality=c.municipality,
                signal_id=c.signal_id,
                subject_id=c.subject_id,
                categories=(DataCategory.CASE,),
                purpose=Purpose.SIGNAL_HANDLING,
            )
            for c in cases
        ],
    )


class HelpQuestionDraft(BaseModel):
    """A help question drafted from the triage cues: the desk asks the person, asks for their
    consent (never assumed), and records it with `derived_from_cues: true`."""

    needs: list[Need] = Field(description="empty when no cue points to a need")
    mobility: Mobility
    derived_from_cues: bool = True
    from_cues: list[str] = Field(description="the cues (checkbox or text) the needs came from")


def not_found_problem(request: Request) -> JSONResponse:
    return problem(
        404,
        "Not found / Niet gevonden",
        "No such signal in your municipalities / Geen melding in uw gemeenten.",
        kind="not-found",
        instance=request.url.path,
    )


def help_question_routes(triage: Triage, verifier: TokenVerifier) -> APIRouter:
    router = APIRouter()
    CaseWorker = Annotated[Principal, _case_worker(verifier)]  # noqa: N806

    @router.get(
        "/v1/triage/signals/{signal_id}/help-question-draft",
        response_model=HelpQuestionDraft,
        responses=problems(404),
    )
    async def help_question_draft(
        signal_id: UUID, request: Request, principal: CaseWorker
    ) -> HelpQuestionDraft | JSONResponse:
        """The needs and mobility the triage cues point to, for the desk to confirm."""
        async with triage.service.pool.acquire() as conn:
            case = await repository.get_case(conn, signal_id)
            if case is None or case.municipality not in principal.municipalities:
                return not_found_problem(request)
            await log_access(conn, principal, [case], activity="triage.case_view")
        draft = draft_help_question(case.explanation, case.risk_groups)
        return HelpQuestionDraft(
            needs=list(draft.needs), mobility=draft.mobility, from_cues=list(draft.from_cues)
        )

    return router


def _conflict(request: Request, reason: str) -> JSONResponse:
    return problem(409, "Conflict / Conflict", reason, kind="conflict", instance=request.url.path)


def _erased(request: Request) -> JSONResponse:
    # the person's data key is shredded: a reason or note could no longer be sealed (nor ever
    # read); what needs no personal data (a confirmation, a step) still works
    return problem(
        410,
        "Erased / Gewist",
        "The person's data was erased; record this without a reason or note / De gegevens"
        " van deze persoon zijn gewist; leg dit vast zonder reden of notitie.",
        kind="erased",
        instance=request.url.path,
    )


def _missing_reason(request: Request, exc: ValueError) -> JSONResponse:
    return problem(
        422,
        "Invalid request / Ongeldig verzoek",
        str(exc),
        kind="validation",
        errors=[
            {
                "field": "reason",
                "type": "missing",
                "reason_nl": "Geef een reden voor de wijziging.",
                "reason_en": str(exc),
            }
        ],
        instance=request.url.path,
    )


CASE = "/v1/triage/signals/{signal_id}"
FIRST_CASE = {"path.signal_id": "$response.body#/items/0/signal_id"}
SAME_CASE = {"path.signal_id": "$request.path.signal_id"}


def _case_worker(verifier: TokenVerifier) -> Any:
    """Coordinators and the desk: only staff of the signal point use the triage API."""
    return Depends(requires(verifier, [PrincipalKind.STAFF], [COORDINATOR, DESK]))


def _coordinator(verifier: TokenVerifier) -> Any:
    return Depends(requires(verifier, [PrincipalKind.STAFF], [COORDINATOR]))


def reading_routes(triage: Triage, verifier: TokenVerifier) -> APIRouter:
    """The review queue and a case in detail (coordinators and the desk)."""
    router = APIRouter()
    CaseWorker = Annotated[Principal, _case_worker(verifier)]  # noqa: N806

    @router.get(
        "/v1/triage/queue",
        response_model=Queue,
        responses=linked(
            200,
            "open cases, most urgent first",
            case=link("GET", CASE, "the first case in detail", FIRST_CASE),
            lock=link("POST", f"{CASE}/lock", "edit the first case", FIRST_CASE),
        ),
    )
    async def review_queue(
        principal: CaseWorker, filters: Annotated[QueueFilter, Query()]
    ) -> Queue:
        """Open cases, most urgent first (priority, then deadline); filters narrow it."""
        f = filters
        if f.municipality is not None:
            principal.require_municipality(f.municipality)
        scope = [f.municipality] if f.municipality else sorted(principal.municipalities)
        now = triage.clock()
        async with triage.service.pool.acquire() as conn:
            cases = await repository.queue(
                conn,
                municipalities=scope,
                now=now,
                route=f.route,
                priority=f.priority,
                state=f.state,
                overdue=f.overdue,
                needs_review=f.needs_review,
                risk_group=f.risk_group,
                limit=f.limit,
                offset=f.offset,
            )
            await log_access(conn, principal, cases, activity="triage.review_queue")
        return Queue(items=[CaseView.of(c, now) for c in cases], limit=f.limit, offset=f.offset)

    @router.get(
        CASE,
        response_model=CaseDetail,
        responses=linked(
            200,
            "the case, its decisions, steps and lock",
            lock=link("POST", f"{CASE}/lock", "take the edit lock", SAME_CASE),
            step=link("POST", f"{CASE}/steps", "record an intake outcome", SAME_CASE),
        )
        | problems(404),
    )
    async def case_detail(
        signal_id: UUID, request: Request, principal: CaseWorker
    ) -> CaseDetail | JSONResponse:
        now = triage.clock()
        async with triage.service.pool.acquire() as conn:
            case = await repository.get_case(conn, signal_id)
            if case is None or case.municipality not in principal.municipalities:
                return not_found_problem(request)
            decisions = await repository.decisions_of(conn, signal_id)
            steps = await repository.steps_of(conn, signal_id)
            outcome = await repository.last_referral_step(conn, signal_id, tuple(REFERRAL_OUTCOMES))
            lock = await repository.lock_of(conn, signal_id, now)
            await log_access(conn, principal, [case], activity="triage.case_view")
        return CaseDetail(
            case=CaseView.of(case, now),
            decisions=decisions,
            steps=steps,
            lock=LockView(signal_id=signal_id, holder=lock[0], expires_at=lock[1])
            if lock
            else None,
            referral_outcome=ReferralOutcome(
                referral_id=outcome[0],
                status=outcome[1].removeprefix("referral_"),
                close_reason=REFERRAL_OUTCOMES[outcome[1]],
            )
            if outcome
            else None,
        )

    return router


def lock_routes(triage: Triage, verifier: TokenVerifier) -> APIRouter:
    """The edit lock: one coordinator at a time changes a case's decision."""
    router = APIRouter()
    Coordinator = Annotated[Principal, _coordinator(verifier)]  # noqa: N806

    @router.post(
        f"{CASE}/lock",
        response_model=LockView,
        responses=linked(
            200,
            "the lock is yours",
            decide=link("POST", f"{CASE}/decisions", "decide, holding the lock", SAME_CASE),
            release=link("DELETE", f"{CASE}/lock", "release the lock", SAME_CASE),
        )
        | problems(404, s409="another coordinator holds the lock"),
    )
    async def take_lock(
        signal_id: UUID, request: Request, principal: Coordinator
    ) -> LockView | JSONResponse:
        """Take (or extend) the edit lock; 409 while another coordinator holds it."""
        now = triage.clock()
        async with triage.service.transaction() as work:
            case = await repository.get_case(work.connection, signal_id)
            if case is None or case.municipality not in principal.municipalities:
                return not_found_problem(request)
            holder, expires = await repository.take_lock(
                work.connection, signal_id, principal.subject, now, triage.lock_duration
            )
        if holder != principal.subject:
            return _conflict(request, f"another coordinator is editing this signal until {expires}")
        return LockView(signal_id=signal_id, holder=holder, expires_at=expires)

    @router.delete(
        f"{CASE}/lock",
        status_code=204,
        responses=problems(404, s409="another coordinator holds the lock; it stays"),
    )
    async def release_lock(signal_id: UUID, request: Request, principal: Coordinator) -> Response:
        """Release your own edit lock (204, also when there is none); 409 for another's."""
        now = triage.clock()
        async with triage.service.transaction() as work:
            case = await repository.get_case(work.connection, signal_id)
            if case is None or case.municipality not in principal.municipalities:
                return not_found_problem(request)
            released = await repository.release_lock(work.connection, signal_id, principal.subject)
            lock = None if released else await repository.lock_of(work.connection, signal_id, now)
        if lock is not None:
            # someone else's lock stays: only its holder releases it (or it expires)
            return _conflict(request, f"another coordinator holds the lock until {lock[1]}")
        return Response(status_code=204)

    return router


def change_routes(triage: Triage, verifier: TokenVerifier) -> APIRouter:
    """Changing a case: a coordinator's decision, and the steps the desk and teams record."""
    router = APIRouter()
    Coordinator = Annotated[Principal, _coordinator(verifier)]  # noqa: N806
    CaseWorker = Annotated[Principal, _case_worker(verifier)]  # noqa: N806

    @router.post(
        f"{CASE}/decisions",
        response_model=CaseView,
        responses=problems(404, 409, s410="the person was erased: no reason can be kept"),
    )
    async def decide(
        signal_id: UUID,
        body: DecisionIn,
        request: Request,
        principal: Coordinator,
    ) -> CaseView | JSONResponse:
        """Confirm the current decision, or change route, risk groups or priority with a reason."""
        try:
            case = await coordinator_decision(
                triage,
                signal_id=signal_id,
                municipalities=principal.municipalities,
                staff=principal.subject,
                change=Change(
                    route=body.route,
                    risk_groups=tuple(body.risk_groups) if body.risk_groups is not None else None,
                    priority=body.priority,
                    reason=body.reason,
                    based_on_decision=body.based_on_decision,
                ),
            )
        except NotFoundError:
            return not_found_problem(request)
        except SubjectErasedError:
            return _erased(request)
        except ConflictError as exc:
            return _conflict(request, str(exc))
        except ValueError as exc:
            return _missing_reason(request, exc)
        async with triage.service.pool.acquire() as conn:
            await log_access(
                conn, principal, [case], activity="triage.decision", operation=Operation.WRITE
            )
        return CaseView.of(case, triage.clock())

    @router.post(
        f"{CASE}/steps",
        response_model=CaseView,
        responses=problems(
            404, s409="the case's state does not allow this step", s410="the person was erased"
        ),
    )
    async def record_step(
        signal_id: UUID,
        body: StepIn,
        request: Request,
        principal: CaseWorker,
    ) -> CaseView | JSONResponse:
        """Record an intake outcome; a step the case's state does not allow answers 409."""
        try:
            case, _ = await record_case_step(
                triage,
                signal_id=signal_id,
                municipalities=principal.municipalities,
                staff=principal.subject,
                is_coordinator=COORDINATOR in principal.roles,
                step=body.step,
                close_reason=body.close_reason,
                note=body.note,
                help_question=body.help_question.contract() if body.help_question else None,
                help_question_plain=body.help_question.plain() if body.help_question else {},
                close_with_referral_outcome=body.close_with_referral_outcome,
            )
        except NotFoundError:
            return not_found_problem(request)
        except SubjectErasedError:
            return _erased(request)
        except (ConflictError, TransitionRefusedError) as exc:
            return _conflict(request, str(exc))
        async with triage.service.pool.acquire() as conn:
            await log_access(
                conn, principal, [case], activity="triage.case_step", operation=Operation.WRITE
            )
        return CaseView.of(case, triage.clock())

    return router


def build_api(triage: Triage, verifier: TokenVerifier) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt triage",
        version="0.1.0",
        description="Review queue, coordinator decisions, edit locks and the case lifecycle.",
    )
    install_problem_handlers(api)
    api.include_router(reading_routes(triage, verifier))
    api.include_router(lock_routes(triage, verifier))
    api.include_router(change_routes(triage, verifier))
    api.include_router(help_question_routes(triage, verifier))
    api.include_router(access_log_api(lambda: triage.service.pool, verifier, service="triage"))
    return api
