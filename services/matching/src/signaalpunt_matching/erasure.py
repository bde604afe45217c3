"""Erasure in matching (AVG art. 17, issue 17): a person's, when intake erases their signal, and a
volunteer's own, on their request.

A person (`signals.erased.v1`, scope `person`): a volunteer who has them in hand (proposed,
accepted, active) hears the match was withdrawn (an event with ids only; the answer link stops
working) and gets the place back; then their match requests and matches go. An unmatched request
stays for the unmatched report under random ids, without the person's neighbourhood, languages,
interests or availability. A tombstone keeps a late request out. A reporter erased alone changes
nothing here (matching keeps nothing of the reporter).

A volunteer: their data key is shredded first (every sealed value of theirs, in the database,
in events and in backups, stops opening), then in one transaction their open proposals are
declined on their behalf (the next volunteer is asked, as with any decline), their accepted and
active matches end (`volunteer_stopped`, so the social worker and the referral team hear it),
their row keeps only ids, the PC4 area and the count of matches given, and the erasure is logged.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from signaalpunt_access import Principal
from signaalpunt_contracts import (
    Envelope,
    ErasureReason,
    ErasureScope,
    MatchEndReason,
    MatchStatus,
    MatchUpdatedV1,
    SignalErasedV1,
)
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .domain import OPEN, Actor
from .handlers import Matching, NotFoundError, move_match

log = get_logger(__name__)
S = MatchStatus

ERASED_BY = "erasure"
"""`changed_by` of the events an erasure causes."""


async def on_erased(ctx: Matching, event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
    if event.data.scope is not ErasureScope.PERSON:
        return
    conn = work.connection
    signal_id = event.data.signal_id
    withdrawn = 0
    for request in await repo.requests_of_signal(conn, signal_id, for_update=True):
        for m in await repo.matches_of_request(conn, request.match_request_id):
            if m.status not in OPEN:
                continue
            # a proposal nobody answered was no match given: it does not count for the spread
            await repo.give_back_place(conn, m.volunteer_id, uncount=m.status is S.PROPOSED)
            ended = replace(
                m,
                status=S.ENDED,
                version=m.version + 1,
                end_reason=MatchEndReason.WITHDRAWN,
                updated_at=ctx.clock(),
            )
            await _publish_withdrawn(ctx, work, ended, request, previous=m.status)
            withdrawn += 1
    deleted = await repo.erase_signal(conn, signal_id)
    log.info(
        "matches erased",
        signal_id=str(signal_id),
        municipality=event.municipality,
        matches=deleted,
        withdrawn=withdrawn,
    )


async def _publish_withdrawn(
    ctx: Matching,
    work: UnitOfWork,
    m: repo.Match,
    request: repo.StoredRequest,
    *,
    previous: MatchStatus,
) -> None:
    """Ids only: no needs, no score, no reasons, no link (the person is gone)."""
    volunteer = await repo.get_volunteer(work.connection, m.volunteer_id)
    event = MatchUpdatedV1(
        match_request_id=m.match_request_id,
        match_id=m.match_id,
        signal_id=request.signal_id,
        subject_id=request.subject_id,
        volunteer_id=m.volunteer_id,
        social_worker=volunteer.volunteer.social_worker if volunteer else None,
        status=S.ENDED,
        previous_status=previous,
        version=m.version,
        attempt=m.attempt,
        end_reason=MatchEndReason.WITHDRAWN,
        changed_by=ERASED_BY,
        changed_at=m.updated_at,
    )
    await work.publish(
        ctx.topics.matches,
        work.new_event(event, municipality=m.municipality),
        key=str(request.signal_id),
    )
    ctx.metrics.changes.labels(S.ENDED.value).inc()


def register_erasure(ctx: Matching) -> None:
    @ctx.service.consumer(ctx.topics.erased, group="matching")
    async def handle(event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
        await on_erased(ctx, event, work)


async def erase_volunteer(
    ctx: Matching, volunteer_id: UUID, *, principal: Principal, reason: ErasureReason
) -> int:
    """A volunteer's own data erased (they asked, or left and withdrew consent). Returns how
    many of their open matches it ended. Safe to repeat: shredding twice is harmless, and a
    second run finds no open match and nothing left to clear."""
    async with ctx.service.pool.acquire() as reader:
        row = await repo.get_volunteer(reader, volunteer_id)
    if row is None or row.municipality not in principal.municipalities:
        raise NotFoundError
    # the key first: from here nothing sealed for the volunteer opens anywhere, even if the
    # transaction below fails (it is then carried out again by the next request)
    await ctx.vault.erase(volunteer_id, reason=reason.value)
    async with ctx.service.transaction() as work:
        conn = work.connection
        await repo.update_volunteer(conn, volunteer_id, {"status": "left"})  # never asked again
        ended = 0
        for m in await repo.open_matches_of_volunteer(conn, volunteer_id):
            if m.status is S.PROPOSED:
                await move_match(ctx, work, m, S.DECLINED, Actor.STAFF, ERASED_BY)
            else:
                await move_match(
                    ctx,
                    work,
                    m,
                    S.ENDED,
                    Actor.STAFF,
                    ERASED_BY,
                    end_reason=MatchEndReason.VOLUNTEER_STOPPED,
                )
            ended += 1
        await repo.erase_volunteer(conn, volunteer_id)
        await access_log.record(
            conn,
            [
                AccessEntry.of(
                    principal,
                    activity="matching.volunteer_erasure",
                    operation=Operation.ERASE,
                    municipality=row.municipality,
                    subject_id=volunteer_id,
                    categories=(DataCategory.IDENTITY, DataCategory.CONTACT),
                    purpose=Purpose.ERASURE,
                )
            ],
        )
    log.info("volunteer erased", volunteer_id=str(volunteer_id), matches_ended=ended)
    return ended
