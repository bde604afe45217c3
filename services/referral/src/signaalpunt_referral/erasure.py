"""signals.erased.v1 in: a person erased means their help question and referrals go.

An organisation that has the referral in hand (sent, accepted, in progress) hears that it was
withdrawn (an event with ids only), and a place it held is given back: no answer will ever come
for a referral that no longer exists here. Gap rows stay for the gap report under a random id.
A reporter erased alone changes nothing here (referral keeps nothing of the reporter).
"""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

from signaalpunt_contracts import Envelope, ErasureScope, ReferralStatus, SignalErasedV1
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .handlers import Referrals, publish_referral
from .lifecycle import HOLDS_A_PLACE

log = get_logger(__name__)

AT_AN_ORGANISATION = HOLDS_A_PLACE | {ReferralStatus.SENT}
"""Statuses in which an organisation has the referral in hand and waits for the team or acts."""


async def on_erased(ctx: Referrals, event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
    if event.data.scope is not ErasureScope.PERSON:
        return
    conn = work.connection
    signal_id = event.data.signal_id
    withdrawn = 0
    for r in await repo.referrals_of(conn, signal_id):
        if r.status not in AT_AN_ORGANISATION:
            continue
        if r.status in HOLDS_A_PLACE:
            await repo.give_back_place(conn, r.service_id)
        ended = replace(
            r,
            status=ReferralStatus.WITHDRAWN,
            version=r.version + 1,
            note=None,
            decline_reason=None,
            respond_by=None,
            updated_at=ctx.clock(),
        )
        await publish_referral(ctx, work, ended, previous=r.status, changed_by="erasure")
        withdrawn += 1
    deleted = await repo.erase_signal(conn, signal_id, uuid4())
    log.info(
        "referrals erased",
        signal_id=str(signal_id),
        municipality=event.municipality,
        referrals=deleted,
        withdrawn=withdrawn,
    )


def register_erasure(ctx: Referrals) -> None:
    @ctx.service.consumer(ctx.topics.erased, group="referral")
    async def handle(event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
        await on_erased(ctx, event, work)
