"""matches.v1 in: a match request's referral follows the match's outcome.

The request's row changes and its referral event (referrals.v1, channel volunteer_matching,
referral_id = match_request_id) are one transaction with the inbox entry of the matches.v1 event,
so a redelivered event has no second effect; an older one changes nothing (`match_outcome.follow`).
"""

from __future__ import annotations

from dataclasses import replace

from signaalpunt_contracts import (
    Envelope,
    MatchConstraint,
    MatchEndReason,
    MatchStatus,
    MatchUpdatedV1,
    ReferralChannel,
    ReferralUpdatedV1,
)
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .handlers import Referrals, close_met_needs
from .match_outcome import (
    MATCHING_NAME,
    RequestState,
    RequestStatus,
    follow,
    matching_offer_id,
    referral_status,
)

log = get_logger(__name__)


async def on_match_update(
    ctx: Referrals, event: Envelope[MatchUpdatedV1], work: UnitOfWork
) -> None:
    m = event.data
    conn = work.connection
    if await repo.was_erased(conn, m.signal_id):
        return  # the person was erased: nothing of theirs comes back
    stored = await repo.get_match_request(conn, m.match_request_id, for_update=True)
    if stored is None:
        # a request from before referral kept them: known from its first event on
        await repo.insert_match_request(
            conn,
            m.match_request_id,
            m.signal_id,
            m.subject_id,
            event.municipality,
            m.needs,
            m.changed_at,
        )
        stored = await repo.get_match_request(conn, m.match_request_id, for_update=True)
        assert stored is not None
    before = RequestState(RequestStatus(stored.status), stored.attempt, stored.match_version)
    after = follow(before, m.status, m.attempt, m.version)
    if after == before:
        log.info(
            "match event changes nothing",
            match_request_id=str(m.match_request_id),
            status=m.status.value,
            attempt=m.attempt,
            version=m.version,
        )
        return
    if after.status is before.status and after.attempt == before.attempt:
        # a later version with the same status (the follow-up reminder): remembered, not told
        await repo.save_match_request(conn, replace(stored, match_version=after.match_version))
        return
    end_reason = m.end_reason.value if m.end_reason else None
    changed = replace(
        stored,
        status=after.status.value,
        attempt=after.attempt,
        match_version=after.match_version,
        version=stored.version + 1,
        match_id=m.match_id or stored.match_id,
        volunteer_id=m.volunteer_id or stored.volunteer_id,
        social_worker=m.social_worker or stored.social_worker,
        respond_by=m.respond_by if after.status is RequestStatus.PROPOSED else None,
        end_reason=end_reason,
        failed_constraint=m.failed_constraint.value if m.failed_constraint else None,
        updated_at=m.changed_at,
    )
    await repo.save_match_request(conn, changed)
    await publish_match_request(
        ctx, work, changed, previous=before.status if before.attempt else None, status=m.status
    )
    if after.status is RequestStatus.ENDED and end_reason == "completed":
        await close_met_needs(ctx, work, m.signal_id)


async def publish_match_request(
    ctx: Referrals,
    work: UnitOfWork,
    r: repo.MatchRequest,
    *,
    previous: RequestStatus | None,
    status: MatchStatus,
) -> None:
    """The request's referral event: the team's mailbox hears of 'nobody found' as of any full
    offer, triage's timeline and metrics count it as a referral to the volunteer matching."""
    end = MatchEndReason(r.end_reason) if r.end_reason else None
    now = referral_status(RequestStatus(r.status), end)
    offer = matching_offer_id(r.municipality)
    event = ReferralUpdatedV1(
        referral_id=r.match_request_id,
        signal_id=r.signal_id,
        subject_id=r.subject_id,
        service_id=offer,
        organisation_id=offer,
        service_name=MATCHING_NAME,
        status=now,
        previous_status=referral_status(previous, None) if previous else None,
        version=r.version,
        needs=r.needs,
        channel=ReferralChannel.VOLUNTEER_MATCHING,
        respond_by=r.respond_by,
        changed_by="matching",
        changed_at=r.updated_at,
        match_status=status,
        failed_constraint=MatchConstraint(r.failed_constraint) if r.failed_constraint else None,
    )
    await work.publish(
        ctx.topics.referrals,
        work.new_event(event, municipality=r.municipality),
        key=str(r.signal_id),
    )
    ctx.metrics.changes.labels(now.value).inc()


def register_match_outcomes(ctx: Referrals) -> None:
    @ctx.service.consumer(ctx.topics.outcomes, group="referral")
    async def handle(event: Envelope[MatchUpdatedV1], work: UnitOfWork) -> None:
        await on_match_update(ctx, event, work)
