"""Matching's work: a request comes in, the best volunteer is asked, answers and deadlines move
the match on, the social worker's follow-up, and warnings for expiring certificates of conduct.

Every change of a match, the place it takes or gives back and its event are one transaction (the
spine's outbox). A place is taken with one conditional UPDATE, so concurrent proposals never give
a volunteer more matches than they can take; the match row is locked while it changes, so an
answer and the deadline cannot both move it; the watchers claim with SKIP LOCKED, so two replicas
never expire the same proposal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter
from signaalpunt_contracts import (
    SIGNALS_ERASED,
    Envelope,
    MatchConstraint,
    MatchEndReason,
    MatchRequestedV1,
    MatchStatus,
    MatchUpdatedV1,
    Topic,
    VolunteerVogExpiringV1,
    new_event_id,
)
from signaalpunt_privacy import PersonalDataVault, access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .domain import ASK_NEXT, NO_CONTINUITY, OPEN, Actor, Request, best, check_move
from .links import AnswerLinks

log = get_logger(__name__)

Clock = Callable[[], datetime]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
S = MatchStatus


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Topics:
    requests: Topic
    matches: Topic
    vog: Topic
    erased: Topic = SIGNALS_ERASED


class MatchingMetrics:
    """Counts by municipality, status and constraint; never ids or people."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "signaalpunt_matching_changes",
            "Match status changes, by status",
            ["status"],
            registry=registry,
        )
        self.unmatched = Counter(
            "signaalpunt_matching_unmatched",
            "Match requests that found no volunteer, by the constraint that ruled out most",
            ["constraint"],
            registry=registry,
        )
        self.vog_warnings = Counter(
            "signaalpunt_matching_vog_warnings",
            "Certificates of conduct (VOG) about to expire, warned once each",
            [],
            registry=registry,
        )


@dataclass
class Matching:
    service: Service
    vault: PersonalDataVault
    topics: Topics
    links: AnswerLinks
    clock: Clock = system_clock
    answer_hours: float = 72.0
    candidate_limit: int = 200
    follow_up_days: int = 28
    vog_warning_days: int = 30
    metrics: MatchingMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = MatchingMetrics(self.service.metrics)

    def today(self) -> date:
        return self.clock().astimezone(AMSTERDAM).date()


class NotFoundError(Exception):
    pass


class LinkUsedError(Exception):
    """410: the link was used, or its proposal is no longer open."""


async def _publish(  # noqa: PLR0917 - the match, its request and what the event adds
    ctx: Matching,
    work: UnitOfWork,
    m: repo.Match,
    request: repo.StoredRequest,
    previous: MatchStatus | None,
    changed_by: str,
    *,
    answer_url: str | None = None,
    follow_up_due: bool = False,
) -> None:
    volunteer = await repo.get_volunteer(work.connection, m.volunteer_id)
    assert volunteer is not None
    event = MatchUpdatedV1(
        match_request_id=m.match_request_id,
        match_id=m.match_id,
        signal_id=request.signal_id,
        subject_id=request.subject_id,
        volunteer_id=m.volunteer_id,
        social_worker=volunteer.volunteer.social_worker,
        status=m.status,
        previous_status=previous,
        version=m.version,
        attempt=m.attempt,
        needs=request.needs,
        score=m.score,
        reasons=m.reasons,
        respond_by=m.respond_by if m.status is S.PROPOSED else None,
        answer_url=answer_url,
        volunteer_contact=volunteer.sealed.get("email") if answer_url else None,
        end_reason=m.end_reason,
        follow_up_due=follow_up_due,
        changed_by=changed_by,
        changed_at=m.updated_at,
        requested_at=request.requested_at,
        volunteer_languages=tuple(sorted(volunteer.volunteer.languages)) if answer_url else (),
    )
    await work.publish(
        ctx.topics.matches,
        work.new_event(event, municipality=m.municipality),
        key=str(request.signal_id),
    )
    ctx.metrics.changes.labels(m.status.value).inc()


# -- a request comes in ----------------------------------------------------------------------------


async def on_match_request(
    ctx: Matching, event: Envelope[MatchRequestedV1], work: UnitOfWork
) -> None:
    q = event.data
    stored = repo.StoredRequest(
        match_request_id=q.match_request_id,
        signal_id=q.signal_id,
        subject_id=q.subject_id,
        municipality=event.municipality,
        needs=q.needs,
        languages=frozenset(q.languages),
        interests=frozenset(q.interests),
        availability=q.availability,
        near=(q.near.lat, q.near.lon) if q.near else None,
        start_on=q.start_on or q.requested_at.astimezone(AMSTERDAM).date(),
        first_name=q.first_name,
        status="open",
        attempts=0,
        failed_constraint=None,
        ruled_out={},
        requested_at=q.requested_at,
    )
    if await repo.was_erased(work.connection, q.signal_id):
        log.info("match request of an erased signal", match_request_id=str(q.match_request_id))
        return  # the person was erased before the request got here: nothing of theirs is kept
    if not await repo.save_request(work.connection, stored):
        log.info("match request already handled", match_request_id=str(q.match_request_id))
        return
    await propose_next(ctx, work, stored)


async def propose_next(
    ctx: Matching, work: UnitOfWork, stored: repo.StoredRequest
) -> repo.Match | None:
    """Ask the best eligible volunteer not asked before; or record that nobody is left."""
    conn = work.connection
    asked = await repo.asked_volunteers(conn, stored.match_request_id)
    request = Request(
        needs=stored.needs,
        languages=stored.languages,
        near=stored.near,
        interests=stored.interests,
        availability=frozenset(stored.availability),
        start_on=stored.start_on,
        earlier_volunteers=await repo.earlier_volunteers(
            conn, stored.subject_id, stored.match_request_id, [r.value for r in NO_CONTINUITY]
        ),
        already_asked=asked,
    )
    candidates = await repo.candidates(
        conn, stored.municipality, request, limit=ctx.candidate_limit
    )
    now = ctx.clock()
    for choice in best(candidates, request):
        if not await repo.take_place(conn, choice.volunteer.volunteer_id):
            continue  # a concurrent proposal took the last place: the next best one
        match_id = new_event_id()
        respond_by = now + timedelta(hours=ctx.answer_hours)
        token, nonce = ctx.links.issue(match_id, respond_by)
        m = repo.Match(
            match_id=match_id,
            match_request_id=stored.match_request_id,
            volunteer_id=choice.volunteer.volunteer_id,
            municipality=stored.municipality,
            status=S.PROPOSED,
            version=1,
            attempt=len(asked) + 1,
            score=choice.score,
            reasons=choice.reasons,
            respond_by=respond_by,
            link_nonce=nonce,
            active_since=None,
            follow_up_at=None,
            real_match=None,
            end_reason=None,
            created_at=now,
            updated_at=now,
        )
        await repo.insert_match(conn, m)
        # the person's needs and neighbourhood given to a volunteer (with the link to their
        # first name): a processing of their data, logged in the same transaction
        await access_log.record(
            conn,
            [
                AccessEntry.by_system(
                    "system:matching",
                    activity="matching.proposal",
                    operation=Operation.WRITE,
                    municipality=stored.municipality,
                    signal_id=stored.signal_id,
                    subject_id=stored.subject_id,
                    categories=(DataCategory.IDENTITY,),
                    purpose=Purpose.SIGNAL_HANDLING,
                )
            ],
        )
        await repo.close_request(conn, stored.match_request_id, status="open", attempts=m.attempt)
        await _publish(ctx, work, m, stored, None, "matching", answer_url=ctx.links.url(token))
        log.info(
            "volunteer asked",
            match_request_id=str(stored.match_request_id),
            match_id=str(match_id),
            attempt=m.attempt,
            candidates=len(candidates),
        )
        return m
    await _unmatched(ctx, work, stored, request, attempts=len(asked), raced=bool(candidates))
    return None


async def _unmatched(
    ctx: Matching,
    work: UnitOfWork,
    stored: repo.StoredRequest,
    request: Request,
    *,
    attempts: int,
    raced: bool,
) -> None:
    ruled_out = await repo.ruled_out(work.connection, stored.municipality, request)
    if raced:  # eligible ones existed, but concurrent proposals filled them
        ruled_out[MatchConstraint.CAPACITY.value] = ruled_out.get("capacity", 0) + 1
    failed = (
        MatchConstraint(max(sorted(ruled_out), key=lambda c: ruled_out[c]))
        if ruled_out
        else MatchConstraint.SKILL  # the municipality has no volunteers at all
    )
    now = ctx.clock()
    await repo.close_request(
        work.connection,
        stored.match_request_id,
        status="unmatched",
        attempts=attempts,
        failed=failed.value,
        ruled_out=ruled_out,
        at=now,
    )
    await work.publish(
        ctx.topics.matches,
        work.new_event(
            MatchUpdatedV1(
                match_request_id=stored.match_request_id,
                signal_id=stored.signal_id,
                subject_id=stored.subject_id,
                status=S.UNMATCHED,
                version=1,
                attempt=max(attempts, 1),
                needs=stored.needs,
                failed_constraint=failed,
                ruled_out=ruled_out,
                changed_by="matching",
                changed_at=now,
                requested_at=stored.requested_at,
            ),
            municipality=stored.municipality,
        ),
        key=str(stored.signal_id),
    )
    ctx.metrics.unmatched.labels(failed.value).inc()
    log.info(
        "match request unmatched",
        match_request_id=str(stored.match_request_id),
        failed_constraint=failed.value,
    )


# -- changes of a match ----------------------------------------------------------------------------


async def move_match(  # noqa: PLR0917
    ctx: Matching,
    work: UnitOfWork,
    m: repo.Match,
    target: MatchStatus,
    actor: Actor,
    by: str,
    *,
    end_reason: MatchEndReason | None = None,
) -> repo.Match:
    check_move(m.status, target, actor)
    conn = work.connection
    request = await repo.get_request(conn, m.match_request_id, for_update=True)
    assert request is not None
    if m.status in OPEN and target not in OPEN:
        # a decline or expiry was no match given; an ended match was, and stays counted
        await repo.give_back_place(conn, m.volunteer_id, uncount=target in ASK_NEXT)
    changed = await repo.change_match(conn, m, status=target, at=ctx.clock(), end_reason=end_reason)
    await _publish(ctx, work, changed, request, m.status, by)
    if target is S.ACCEPTED:
        await repo.close_request(
            conn, request.match_request_id, status="matched", attempts=m.attempt
        )
    if target in ASK_NEXT:
        await propose_next(ctx, work, request)
    return changed


async def answer_by_link(ctx: Matching, token: str, *, accept: bool) -> repo.Match:
    """The volunteer's answer through the signed link: once, before the deadline."""
    claims = ctx.links.verify(token, ctx.clock())
    async with ctx.service.transaction() as work:
        m = await repo.get_match(work.connection, claims.match_id, for_update=True)
        if m is None:
            raise NotFoundError
        if m.status is not S.PROPOSED or m.link_nonce != claims.nonce:
            raise LinkUsedError
        return await move_match(
            ctx, work, m, S.ACCEPTED if accept else S.DECLINED, Actor.VOLUNTEER, "volunteer"
        )


async def open_link(ctx: Matching, token: str) -> tuple[repo.Match, repo.StoredRequest]:
    claims = ctx.links.verify(token, ctx.clock())
    async with ctx.service.pool.acquire() as conn:
        m = await repo.get_match(conn, claims.match_id)
        if m is None:
            raise NotFoundError
        if m.status is not S.PROPOSED or m.link_nonce != claims.nonce:
            raise LinkUsedError
        request = await repo.get_request(conn, m.match_request_id)
    assert request is not None
    return m, request


async def staff_change(
    ctx: Matching,
    match_id: UUID,
    target: MatchStatus,
    *,
    by: str,
    municipalities: frozenset[str],
    end_reason: MatchEndReason | None = None,
) -> repo.Match:
    """The coordinator or social worker: active after the first meeting, ended with a reason,
    or a decline the volunteer gave by phone."""
    async with ctx.service.transaction() as work:
        m = await repo.get_match(work.connection, match_id, for_update=True)
        if m is None or m.municipality not in municipalities:
            raise NotFoundError
        if m.status is target:
            return m
        return await move_match(ctx, work, m, target, Actor.STAFF, by, end_reason=end_reason)


# -- the watchers (any replica) --------------------------------------------------------------------


async def expire_due(ctx: Matching, *, batch: int = 50) -> int:
    """Proposals nobody answered in time: expired, and the next volunteer asked."""
    async with ctx.service.transaction() as work:
        due = await repo.due_proposals(work.connection, ctx.clock(), batch)
        for m in due:
            await move_match(ctx, work, m, S.EXPIRED, Actor.SYSTEM, "deadline")
    if due:
        log.info("proposals expired", count=len(due))
    return len(due)


async def follow_up_due(ctx: Matching, *, batch: int = 50) -> int:
    """Four weeks after the start: the social worker is asked whether it became a real match."""
    now = ctx.clock()
    async with ctx.service.transaction() as work:
        due = await repo.due_follow_ups(
            work.connection, now - timedelta(days=ctx.follow_up_days), batch
        )
        for m in due:
            marked = await repo.mark_follow_up(work.connection, m.match_id, now)
            request = await repo.get_request(work.connection, m.match_request_id)
            assert request is not None
            await _publish(ctx, work, marked, request, m.status, "follow-up", follow_up_due=True)
    return len(due)


async def warn_vog_expiring(ctx: Matching, *, batch: int = 100) -> int:
    """One warning per certificate about to expire, for the municipality's coordinators."""
    now = ctx.clock()
    until = ctx.today() + timedelta(days=ctx.vog_warning_days)
    async with ctx.service.transaction() as work:
        due = await repo.claim_vog_expiring(work.connection, until, batch)
        for v in due:
            assert v.volunteer.vog_expires_on is not None
            await work.publish(
                ctx.topics.vog,
                work.new_event(
                    VolunteerVogExpiringV1(
                        volunteer_id=v.volunteer.volunteer_id,
                        vog_expires_on=v.volunteer.vog_expires_on,
                        social_worker=v.volunteer.social_worker,
                        detected_at=now,
                    ),
                    municipality=v.municipality,
                ),
                key=str(v.volunteer.volunteer_id),
            )
            await repo.mark_vog_warned(work.connection, v.volunteer.volunteer_id)
            ctx.metrics.vog_warnings.inc()
    return len(due)


def register_consumer(ctx: Matching) -> None:
    @ctx.service.consumer(ctx.topics.requests, group="matching")
    async def handle(event: Envelope[MatchRequestedV1], work: UnitOfWork) -> None:
        await on_match_request(ctx, event, work)
