"""Referral's work: rank a recorded help question, send, answer, escalate.

Every change of a referral, its history row, the capacity it takes or gives back and the event
it causes are one transaction (the runtime's outbox). The referral row is locked while it
changes, and a place is taken with one conditional UPDATE, so concurrent accepts never overbook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter
from signaalpunt_contracts import (
    MATCHES,
    SIGNALS_ERASED,
    VOLUNTEER_NEEDS,
    CaseStep,
    CaseStepRecordedV1,
    DeclineReason,
    Envelope,
    MatchRequestedV1,
    OfferGapV1,
    ReferralChannel,
    ReferralStatus,
    ReferralUpdatedV1,
    Topic,
    new_event_id,
)
from signaalpunt_privacy import PersonalDataVault, access_log
from signaalpunt_privacy.access_log import AccessEntry, ActorKind, DataCategory, Operation, Purpose
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .deadlines import respond_by
from .lifecycle import Actor, TransitionRefusedError, move, superseded
from .ranking import MAX_KM_WITH_TRANSPORT, Person, rank

log = get_logger(__name__)

Clock = Callable[[], datetime]

CUT_MARGIN = 5
"""SQL hands over this many offers more than are proposed: its float arithmetic may order two
offers of (almost) the same score otherwise than the ranking does."""


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Topics:
    steps: Topic
    referrals: Topic
    matches: Topic
    gaps: Topic
    erased: Topic = SIGNALS_ERASED
    outcomes: Topic = MATCHES
    """matches.v1: what became of the match requests"""


class ReferralMetrics:
    """Counts by municipality, status and need; never ids or people."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "signaalpunt_referral_changes",
            "Referral status changes, by status",
            ["status"],
            registry=registry,
        )
        self.gaps = Counter(
            "signaalpunt_referral_gaps",
            "Needs the social map could not meet, by need and reason",
            ["need", "reason"],
            registry=registry,
        )
        self.webhooks = Counter(
            "signaalpunt_referral_webhooks",
            "Webhook deliveries to organisations, by outcome (delivered, retry, given_up)",
            ["outcome"],
            registry=registry,
        )


@dataclass
class Referrals:
    service: Service
    vault: PersonalDataVault
    topics: Topics
    clock: Clock = system_clock
    response_working_days: int = 3
    proposals_per_question: int = 5
    metrics: ReferralMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = ReferralMetrics(self.service.metrics)


class NotFoundError(Exception):
    pass


class ConflictError(Exception):
    """409: not possible now (no consent, no open place, lifecycle)."""


async def _publish(
    ctx: Referrals,
    work: UnitOfWork,
    r: repo.Referral,
    *,
    previous: ReferralStatus | None,
    changed_by: str,
    escalated: bool = False,
) -> None:
    email = None
    if r.status is ReferralStatus.SENT and r.channel is ReferralChannel.EMAIL and not escalated:
        service = await repo.get_service(work.connection, r.service_id)
        email = service.email if service else None
    event = ReferralUpdatedV1(
        referral_id=r.referral_id,
        signal_id=r.signal_id,
        subject_id=r.subject_id,
        service_id=r.service_id,
        organisation_id=r.organisation_id,
        service_name=r.service_name[:300],
        status=r.status,
        previous_status=previous,
        version=r.version,
        escalated=escalated,
        needs=r.needs,
        rank=r.rank,
        reasons=r.reasons,
        decline_reason=DeclineReason(r.decline_reason) if r.decline_reason else None,
        note=r.note,
        channel=r.channel,
        referral_email=email,
        respond_by=r.respond_by,
        changed_by=changed_by,
        changed_at=r.updated_at,
    )
    await work.publish(
        ctx.topics.referrals,
        work.new_event(event, municipality=r.municipality),
        key=str(r.signal_id),
    )
    if r.channel is ReferralChannel.WEBHOOK and not escalated:
        told = _webhook_event(r.status, previous)
        if told:
            await repo.queue_webhook(work.connection, r, told, r.updated_at)
    ctx.metrics.changes.labels(r.status.value).inc()


publish_referral = _publish
"""For the erasure handler: a referral withdrawn because its person was erased."""


def _webhook_event(status: ReferralStatus, previous: ReferralStatus | None) -> str | None:
    """What an organisation with a webhook is told: a referral sent to it, and one withdrawn
    after it had it (a proposal it never saw is withdrawn silently)."""
    if status is ReferralStatus.SENT:
        return "referral.sent"
    known = (ReferralStatus.SENT, ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS)
    if status is ReferralStatus.WITHDRAWN and previous in known:
        return "referral.withdrawn"
    return None


# -- a help question comes in --------------------------------------------------------------------


async def on_case_step(
    ctx: Referrals, event: Envelope[CaseStepRecordedV1], work: UnitOfWork
) -> None:
    step = event.data
    if step.step is not CaseStep.HELP_QUESTION_RECORDED or step.help_question is None:
        return  # other steps are triage's and the desk's business
    conn = work.connection
    if await repo.was_erased(conn, step.signal_id):
        return  # erased before it got here (the topics are not ordered among each other)
    subject_id = _subject_of(step)
    fresh = await repo.save_help_question(
        conn,
        signal_id=step.signal_id,
        subject_id=subject_id,
        municipality=event.municipality,
        route=step.route.value,
        risk_groups=step.risk_groups or (),
        question=step.help_question,
        recorded_at=step.recorded_at,
        recorded_by=step.recorded_by,
    )
    if not fresh:
        log.info("help question already handled", signal_id=str(step.signal_id))
        return
    # a new help question replaces the proposals nobody sent yet
    for old in await repo.referrals_of(conn, step.signal_id):
        if old.status is ReferralStatus.PROPOSED:
            await _change(ctx, work, old, ReferralStatus.WITHDRAWN, Actor.TEAM, "referral")
    question = step.help_question
    if question.consent_to_refer and set(question.needs) & VOLUNTEER_NEEDS:
        request_id = new_event_id()
        volunteer_needs = tuple(n for n in question.needs if n in VOLUNTEER_NEEDS)
        # kept here too: the team sees what became of it (matches.v1) with the referrals
        await repo.insert_match_request(
            conn,
            request_id,
            step.signal_id,
            subject_id,
            event.municipality,
            volunteer_needs,
            ctx.clock(),
        )
        await work.publish(
            ctx.topics.matches,
            work.new_event(
                MatchRequestedV1(
                    match_request_id=request_id,
                    signal_id=step.signal_id,
                    subject_id=subject_id,
                    needs=volunteer_needs,
                    languages=question.languages,
                    mobility=question.mobility,
                    age=question.age,
                    near=question.near,
                    risk_groups=step.risk_groups or (),
                    requested_at=ctx.clock(),
                    # sealed with the subject's key by triage; passed on as it is
                    first_name=question.first_name,
                    interests=question.interests,
                    availability=question.availability,
                    start_on=question.start_on,
                ),
                municipality=event.municipality,
            ),
            key=str(step.signal_id),
        )
    proposals = await propose(ctx, work, step.signal_id, limit=ctx.proposals_per_question)
    auto, days = await repo.route_setting(conn, event.municipality, step.route.value)
    if auto and question.consent_to_refer and proposals:
        await _send(ctx, work, proposals[0], "auto", Actor.SYSTEM, days)


def _subject_of(step: CaseStepRecordedV1) -> UUID:
    """Whose data key sealed the question; a step from before triage sent it falls back to the
    signal id (then nothing sealed can be opened, and nothing is lost either)."""
    return step.subject_id or step.signal_id


async def propose(
    ctx: Referrals, work: UnitOfWork, signal_id: UUID, *, limit: int
) -> list[repo.Referral]:
    """Rank the map for the signal's help question and store the best `limit` offers not
    proposed before as proposals; record a gap for each need nothing can meet."""
    conn = work.connection
    stored = await repo.get_help_question(conn, signal_id)
    if stored is None:
        raise NotFoundError
    q = stored.question
    already = await repo.referred_services(conn, signal_id)
    found = await repo.candidates(
        conn,
        municipality=stored.municipality,
        needs=[n.value for n in q.needs],
        age=q.age,
        risk_groups=[g.value for g in stored.risk_groups],
        languages=list(q.languages),
        mobility=q.mobility.value,
        near=(q.near.lat, q.near.lon) if q.near else None,
        exclude=already,
        limit=limit + CUT_MARGIN,
        max_km_with_transport=MAX_KM_WITH_TRANSPORT,
    )
    person = Person(
        municipality=stored.municipality, question=q, risk_groups=frozenset(stored.risk_groups)
    )
    ranking = rank(
        person, found.offers, prefiltered=found.ruled_out, limit=limit, coverage=found.coverage
    )
    await repo.set_ruled_out(conn, signal_id, ranking.ruled_out)
    now = ctx.clock()
    start = len(already)
    created: list[repo.Referral] = []
    for proposal in ranking.proposals:
        service = await repo.get_service(conn, proposal.offer.service_id)
        assert service is not None
        referral = repo.Referral(
            referral_id=new_event_id(),
            signal_id=signal_id,
            subject_id=stored.subject_id,
            municipality=stored.municipality,
            service_id=proposal.offer.service_id,
            organisation_id=proposal.offer.organisation_id,
            service_name=proposal.offer.name,
            status=ReferralStatus.PROPOSED,
            version=1,
            rank=start + proposal.rank,
            reasons=proposal.reasons,
            needs=proposal.needs_met,
            channel=service.channel,
            respond_by=None,
            escalated_at=None,
            decline_reason=None,
            note=None,
            created_at=now,
            updated_at=now,
        )
        await repo.insert_referral(conn, referral, "referral")
        await _publish(ctx, work, referral, previous=None, changed_by="referral")
        created.append(referral)
    for gap in ranking.gaps if not already else ():
        if await repo.record_gap(
            conn,
            signal_id=signal_id,
            need=gap.need.value,
            municipality=stored.municipality,
            risk_groups=[g.value for g in stored.risk_groups],
            reason=gap.reason.value,
            at=now,
        ):
            await work.publish(
                ctx.topics.gaps,
                work.new_event(
                    OfferGapV1(
                        signal_id=signal_id,
                        need=gap.need,
                        risk_groups=stored.risk_groups,
                        reason=gap.reason,
                        ruled_out=ranking.ruled_out,
                        detected_at=now,
                    ),
                    municipality=stored.municipality,
                ),
                key=stored.municipality,
            )
            ctx.metrics.gaps.labels(gap.need.value, gap.reason.value).inc()
    log.info(
        "help question ranked",
        signal_id=str(signal_id),
        proposals=len(created),
        candidates=len(found.offers),
        gaps=[g.need.value for g in ranking.gaps],
    )
    return created


# -- changes of a referral -----------------------------------------------------------------------


async def _change(  # noqa: PLR0917 - the referral, the move and who makes it
    ctx: Referrals,
    work: UnitOfWork,
    r: repo.Referral,
    target: ReferralStatus,
    actor: Actor,
    changed_by: str,
    *,
    decline_reason: DeclineReason | None = None,
    note: str | None = None,
    respond_days: int | None = None,
) -> repo.Referral:
    step = move(r.status, target, actor)
    conn = work.connection
    if step.takes_place and not await repo.take_place(conn, r.service_id):
        raise ConflictError("the offer has no open place left")
    if step.gives_back_place:
        await repo.give_back_place(conn, r.service_id)
    now = ctx.clock()
    sealed = (
        await ctx.vault.seal(r.subject_id, r.municipality, note.strip(), field="referral.note")
        if note and note.strip()
        else None
    )
    due = (
        respond_by(now, respond_days or ctx.response_working_days)
        if target is ReferralStatus.SENT
        else None
    )
    changed = await repo.change_status(
        conn,
        r,
        status=target,
        decline_reason=decline_reason.value if decline_reason else None,
        note=sealed,
        respond_by=due,
        changed_by=changed_by,
        at=now,
    )
    await _publish(ctx, work, changed, previous=r.status, changed_by=changed_by)
    if target is ReferralStatus.COMPLETED:
        await close_met_needs(ctx, work, r.signal_id)
    if step.propose_next:
        nxt = await propose(ctx, work, r.signal_id, limit=1)
        stored = await repo.get_help_question(conn, r.signal_id)
        assert stored is not None
        auto, days = await repo.route_setting(conn, r.municipality, stored.route)
        if nxt and auto and stored.question.consent_to_refer:
            await _send(ctx, work, nxt[0], "auto", Actor.SYSTEM, days)
    return changed


async def close_met_needs(ctx: Referrals, work: UnitOfWork, signal_id: UUID) -> int:
    """A referral (or a volunteer match) completed: the proposals nobody sent for needs that are
    now met are withdrawn, so the team's worklist holds only what is still open. Returns how
    many were withdrawn."""
    conn = work.connection
    referrals = await repo.referrals_of(conn, signal_id)
    met = frozenset(
        need for done in referrals if done.status is ReferralStatus.COMPLETED for need in done.needs
    ) | frozenset(await repo.needs_met_by_matches(conn, signal_id))
    withdrawn = 0
    for r in referrals:
        if superseded(r.needs, r.status, met):
            await _change(ctx, work, r, ReferralStatus.WITHDRAWN, Actor.TEAM, "referral")
            withdrawn += 1
    if withdrawn:
        log.info("proposals for met needs withdrawn", signal_id=str(signal_id), count=withdrawn)
    return withdrawn


async def _send(  # noqa: PLR0917
    ctx: Referrals, work: UnitOfWork, r: repo.Referral, by: str, actor: Actor, days: int
) -> repo.Referral:
    stored = await repo.get_help_question(work.connection, r.signal_id)
    if stored is None or not stored.question.consent_to_refer:
        raise ConflictError("the person did not consent to being referred")
    return await _change(ctx, work, r, ReferralStatus.SENT, actor, by, respond_days=days or None)


async def send(
    ctx: Referrals, referral_id: UUID, *, municipalities: frozenset[str], staff: str
) -> repo.Referral:
    """The team confirms a proposal: it goes to the organisation."""
    async with ctx.service.transaction() as work:
        r = await repo.get_referral(work.connection, referral_id, for_update=True)
        if r is None or r.municipality not in municipalities:
            raise NotFoundError
        stored = await repo.get_help_question(work.connection, r.signal_id)
        assert stored is not None
        _, days = await repo.route_setting(work.connection, r.municipality, stored.route)
        return await _send(ctx, work, r, staff, Actor.TEAM, days)


@dataclass(frozen=True)
class Answer:
    status: ReferralStatus
    decline_reason: DeclineReason | None = None
    note: str | None = None


async def answer(
    ctx: Referrals,
    referral_id: UUID,
    reply: Answer,
    *,
    actor: Actor,
    by: str,
    municipalities: frozenset[str] | None = None,
    organisation_id: UUID | None = None,
    callback_id: str | None = None,
) -> tuple[repo.Referral, bool]:
    """An organisation's (or the team's) answer. Returns the referral and whether it changed:
    the same answer again (a retry, a redelivered callback) has no second effect."""
    async with ctx.service.transaction() as work:
        r = await repo.get_referral(work.connection, referral_id, for_update=True)
        if r is None:
            raise NotFoundError
        if municipalities is not None and r.municipality not in municipalities:
            raise NotFoundError
        if organisation_id is not None and r.organisation_id != organisation_id:
            raise NotFoundError  # another organisation's referral does not exist for this one
        # a callback is claimed in the answer's own transaction: a refused answer leaves no
        # claim behind, a redelivered one finds it
        if (
            callback_id is not None
            and organisation_id is not None
            and not await repo.claim_callback(work.connection, organisation_id, callback_id)
        ):
            return r, False
        if r.status is reply.status:
            return r, False
        if reply.status is ReferralStatus.DECLINED and reply.decline_reason is None:
            raise TransitionRefusedError("a decline needs a decline_reason")
        changed = await _change(
            ctx,
            work,
            r,
            reply.status,
            actor,
            by,
            decline_reason=reply.decline_reason,
            note=reply.note,
        )
        if reply.note and reply.note.strip():  # a note about the person recorded (sealed)
            await access_log.record(work.connection, [_note_recorded(changed, actor, by)])
        return changed, True


def _note_recorded(r: repo.Referral, actor: Actor, by: str) -> AccessEntry:
    return AccessEntry.by(
        # an organisation answers as its URN, as its inbox reads are logged
        f"urn:signaalpunt:organisation:{r.organisation_id}" if actor is Actor.ORGANISATION else by,
        ActorKind.PARTNER if actor is Actor.ORGANISATION else ActorKind.STAFF,
        activity="referral.note",
        operation=Operation.WRITE,
        municipality=r.municipality,
        signal_id=r.signal_id,
        subject_id=r.subject_id,
        categories=(DataCategory.CASE,),
        purpose=Purpose.SIGNAL_HANDLING,
    )


async def escalate_due(ctx: Referrals, *, batch: int = 100) -> int:
    """Referrals whose organisation did not answer in time: one escalation event each."""
    now = ctx.clock()
    async with ctx.service.transaction() as work:
        due = await repo.due_referrals(work.connection, now, batch)
        for r in due:
            await repo.mark_escalated(work.connection, r.referral_id, now)
            bumped = await repo.change_status(
                work.connection,
                r,
                status=r.status,
                decline_reason=None,
                note=None,
                respond_by=None,
                changed_by="deadline",
                at=now,
            )
            await _publish(
                ctx, work, bumped, previous=r.status, changed_by="deadline", escalated=True
            )
    if due:
        log.info("referrals escalated", count=len(due))
    return len(due)


def register_consumer(ctx: Referrals, *, batch_size: int | None = None) -> None:
    @ctx.service.consumer(ctx.topics.steps, group="referral", batch_size=batch_size)
    async def handle(event: Envelope[CaseStepRecordedV1], work: UnitOfWork) -> None:
        await on_case_step(ctx, event, work)
