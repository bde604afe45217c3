"""A match request's referral follows the match's outcome (matches.v1), on the real Kafka and
PostgreSQL: visible in the team's API, told on referrals.v1; a redelivered or older event has no
effect, and nothing moves a request that ended."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from referral_harness import RunningReferral
from signaalpunt_contracts import (
    Envelope,
    MatchConstraint,
    MatchEndReason,
    MatchRequestedV1,
    MatchStatus,
    MatchUpdatedV1,
    ReferralChannel,
    ReferralStatus,
    ReferralUpdatedV1,
)
from signaalpunt_referral.match_outcome import RequestState, RequestStatus, follow

M, R = MatchStatus, RequestStatus

# -- the pure state machine ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        # in order: the request follows every change
        ((R.REQUESTED, 0, 0), (M.PROPOSED, 1, 1), (R.PROPOSED, 1, 1)),
        ((R.PROPOSED, 1, 1), (M.DECLINED, 1, 2), (R.DECLINED, 1, 2)),
        ((R.DECLINED, 1, 2), (M.PROPOSED, 2, 1), (R.PROPOSED, 2, 1)),
        ((R.PROPOSED, 2, 1), (M.EXPIRED, 2, 2), (R.EXPIRED, 2, 2)),
        ((R.PROPOSED, 2, 1), (M.ACCEPTED, 2, 2), (R.ACCEPTED, 2, 2)),
        ((R.ACCEPTED, 2, 2), (M.ACTIVE, 2, 3), (R.ACTIVE, 2, 3)),
        ((R.ACTIVE, 2, 3), (M.ENDED, 2, 5), (R.ENDED, 2, 5)),
        ((R.ACCEPTED, 2, 2), (M.ENDED, 2, 3), (R.ENDED, 2, 3)),
        # nobody found: after the last decline of the same attempt, or at once
        ((R.DECLINED, 3, 2), (M.UNMATCHED, 3, 1), (R.NO_VOLUNTEER_FOUND, 3, 1)),
        ((R.REQUESTED, 0, 0), (M.UNMATCHED, 1, 1), (R.NO_VOLUNTEER_FOUND, 1, 1)),
        # duplicates and older events change nothing
        ((R.PROPOSED, 1, 1), (M.PROPOSED, 1, 1), (R.PROPOSED, 1, 1)),
        ((R.PROPOSED, 2, 1), (M.DECLINED, 1, 2), (R.PROPOSED, 2, 1)),
        ((R.ACCEPTED, 2, 2), (M.PROPOSED, 2, 1), (R.ACCEPTED, 2, 2)),
        ((R.ACCEPTED, 2, 2), (M.UNMATCHED, 2, 1), (R.ACCEPTED, 2, 2)),
        ((R.PROPOSED, 3, 1), (M.UNMATCHED, 2, 1), (R.PROPOSED, 3, 1)),
        # an ended request stays ended, whatever arrives late
        ((R.ENDED, 2, 5), (M.ACTIVE, 2, 6), (R.ENDED, 2, 5)),
        ((R.NO_VOLUNTEER_FOUND, 3, 1), (M.DECLINED, 3, 2), (R.NO_VOLUNTEER_FOUND, 3, 1)),
        # the four-week follow-up: the same status at a later version moves nothing
        ((R.ACTIVE, 2, 3), (M.ACTIVE, 2, 4), (R.ACTIVE, 2, 4)),
    ],
)
def test_the_request_follows_the_match(
    state: tuple[RequestStatus, int, int],
    event: tuple[MatchStatus, int, int],
    expected: tuple[RequestStatus, int, int],
) -> None:
    assert follow(RequestState(*state), *event) == RequestState(*expected)


# -- end to end ----------------------------------------------------------------------------------


def update(request: MatchRequestedV1, status: MatchStatus, **values: Any) -> MatchUpdatedV1:
    base: dict[str, Any] = {
        "match_request_id": request.match_request_id,
        "signal_id": request.signal_id,
        "subject_id": request.subject_id,
        "status": status,
        "version": 1,
        "attempt": 1,
        "needs": request.needs,
        "changed_by": "matching",
        "changed_at": datetime.now(UTC),
    }
    return MatchUpdatedV1.model_validate({**base, **values})


async def requested(referral: RunningReferral) -> MatchRequestedV1:
    step = await referral.help_question(needs=("buddy",), languages=["nl"])
    signal_id = step.data.signal_id
    return (await referral.about(referral.topics.matches, MatchRequestedV1, signal_id))[0]


async def tell(referral: RunningReferral, *events: MatchUpdatedV1) -> list[Envelope[Any]]:
    sent = []
    for data in events:
        envelope = Envelope.new(data, municipality="GM0715", producer="matching")
        await referral.publish(referral.topics.outcomes, envelope, str(data.signal_id))
        sent.append(envelope)
    return sent


async def requests_of(referral: RunningReferral, signal_id: UUID, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(300):
        answer = await referral.client.get(
            f"/v1/referral/signals/{signal_id}", headers=referral.staff()
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found = body.get("match_requests") or []
        if found and found[0]["status"] == status:
            return dict(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"the match request never became {status}: {body}")


async def told(referral: RunningReferral, request_id: UUID, count: int) -> list[ReferralUpdatedV1]:
    """The request's referral events on referrals.v1, by version, once `count` are there (and
    two seconds more, for any that should not be)."""

    def mine(events: list[Envelope[ReferralUpdatedV1]]) -> list[ReferralUpdatedV1]:
        return [e.data for e in events if e.data.referral_id == request_id]

    events = await referral.events(
        referral.topics.referrals,
        ReferralUpdatedV1,
        lambda es: len(mine(es)) >= count,
        settle=2.0,
    )
    return sorted(mine(events), key=lambda e: e.version)


async def test_the_referral_follows_the_match_to_its_end_once(referral: RunningReferral) -> None:
    request = await requested(referral)
    respond_by = datetime.now(UTC) + timedelta(days=3)
    first = update(request, M.PROPOSED, match_id=uuid4(), respond_by=respond_by)
    second_id = uuid4()
    sent = await tell(
        referral,
        first,
        update(request, M.DECLINED, match_id=first.match_id, version=2),
        update(request, M.PROPOSED, match_id=second_id, attempt=2, respond_by=respond_by),
        update(
            request,
            M.ACCEPTED,
            match_id=second_id,
            attempt=2,
            version=2,
            social_worker="staff:welzijn-terneuzen-3",
        ),
    )
    # a redelivery of the first proposal, and the first volunteer's expiry arriving late
    await referral.publish(referral.topics.outcomes, sent[0], str(request.signal_id))
    await tell(referral, update(request, M.EXPIRED, match_id=first.match_id, version=2))
    seen = await requests_of(referral, request.signal_id, "accepted")
    assert seen["attempt"] == 2
    assert seen["match_id"] == str(second_id)
    assert seen["social_worker"] == "staff:welzijn-terneuzen-3"
    assert seen["needs"] == ["buddy"]

    await tell(
        referral,
        update(request, M.ACTIVE, match_id=second_id, attempt=2, version=3),
        update(request, M.ACTIVE, match_id=second_id, attempt=2, version=4, follow_up_due=True),
        update(
            request,
            M.ENDED,
            match_id=second_id,
            attempt=2,
            version=5,
            end_reason=MatchEndReason.COMPLETED,
        ),
        # after the end nothing moves it back
        update(request, M.ACTIVE, match_id=second_id, attempt=2, version=6),
    )
    seen = await requests_of(referral, request.signal_id, "ended")
    assert seen["end_reason"] == "completed"

    mine = await told(referral, request.match_request_id, 6)
    assert [(e.version, e.status, e.match_status) for e in mine] == [
        (1, ReferralStatus.SENT, M.PROPOSED),
        (2, ReferralStatus.SENT, M.DECLINED),
        (3, ReferralStatus.SENT, M.PROPOSED),
        (4, ReferralStatus.ACCEPTED, M.ACCEPTED),
        (5, ReferralStatus.IN_PROGRESS, M.ACTIVE),
        (6, ReferralStatus.COMPLETED, M.ENDED),
    ]
    assert {e.channel for e in mine} == {ReferralChannel.VOLUNTEER_MATCHING}
    assert mine[0].respond_by is not None
    assert mine[3].previous_status is ReferralStatus.SENT


async def test_nobody_found_is_told_as_no_capacity_with_the_constraint(
    referral: RunningReferral,
) -> None:
    request = await requested(referral)
    match_id = uuid4()
    await tell(
        referral,
        update(request, M.PROPOSED, match_id=match_id),
        update(request, M.EXPIRED, match_id=match_id, version=2),
        update(
            request,
            M.UNMATCHED,
            failed_constraint=MatchConstraint.DISTANCE,
            ruled_out={"distance": 7, "already_asked": 1},
        ),
        # the expiry redelivered after the end: nothing
        update(request, M.EXPIRED, match_id=match_id, version=2),
    )
    seen = await requests_of(referral, request.signal_id, "no_volunteer_found")
    assert seen["failed_constraint"] == "distance"
    mine = await told(referral, request.match_request_id, 3)
    assert [e.status for e in mine] == [
        ReferralStatus.SENT,
        ReferralStatus.SENT,
        ReferralStatus.NO_CAPACITY,
    ]
    assert mine[-1].failed_constraint is MatchConstraint.DISTANCE


async def test_another_municipality_does_not_see_the_match_request(
    referral: RunningReferral,
) -> None:
    request = await requested(referral)
    await tell(referral, update(request, M.PROPOSED, match_id=uuid4()))
    await requests_of(referral, request.signal_id, "proposed")
    answer = await referral.client.get(
        f"/v1/referral/signals/{request.signal_id}",
        headers=referral.staff(municipality="GM0677"),
    )
    assert answer.status_code == 404
