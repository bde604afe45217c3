"""A match request follows the match's outcome (pure): from matches.v1 to the request's status
and to the referral status the team, triage's timeline and metrics see on referrals.v1.

The request moves requested → proposed ⇄ declined | expired (the next volunteer is asked) →
accepted → active → ended, or → no_volunteer_found. matches.v1 is in order per signal, but a
replay, a redelivery or a late partition can bring an older event: an event is applied only when
it is further than what the request has seen — a later volunteer asked (`attempt`), or a later
change of the same match (`version`) — and nothing moves a request that ended or found nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from signaalpunt_contracts import MatchEndReason, MatchStatus, ReferralStatus


class RequestStatus(StrEnum):
    REQUESTED = "requested"  # sent to the matching service, nothing heard yet
    PROPOSED = "proposed"  # a volunteer is asked and must answer before respond_by
    DECLINED = "declined"  # the volunteer said no: the next one is asked
    EXPIRED = "expired"  # the volunteer did not answer in time: the next one is asked
    ACCEPTED = "accepted"  # a volunteer said yes; the coupled social worker is told
    ACTIVE = "active"  # the first meeting took place
    ENDED = "ended"  # with the match's end reason
    NO_VOLUNTEER_FOUND = "no_volunteer_found"  # with the constraint that ruled out most


FINAL = frozenset({RequestStatus.ENDED, RequestStatus.NO_VOLUNTEER_FOUND})
HAS_A_VOLUNTEER = frozenset({RequestStatus.ACCEPTED, RequestStatus.ACTIVE})

_OF_MATCH: dict[MatchStatus, RequestStatus] = {
    MatchStatus.PROPOSED: RequestStatus.PROPOSED,
    MatchStatus.DECLINED: RequestStatus.DECLINED,
    MatchStatus.EXPIRED: RequestStatus.EXPIRED,
    MatchStatus.ACCEPTED: RequestStatus.ACCEPTED,
    MatchStatus.ACTIVE: RequestStatus.ACTIVE,
    MatchStatus.ENDED: RequestStatus.ENDED,
    MatchStatus.UNMATCHED: RequestStatus.NO_VOLUNTEER_FOUND,
}


@dataclass(frozen=True)
class RequestState:
    status: RequestStatus
    attempt: int = 0
    """Which volunteer the last applied event was about (0: none yet)."""
    match_version: int = 0


def follow(state: RequestState, status: MatchStatus, attempt: int, version: int) -> RequestState:
    """The request's state after a matches.v1 event; `state` itself when the event changes
    nothing (a duplicate, an older event, an event after the end, a follow-up reminder)."""
    if state.status in FINAL:
        return state
    target = _OF_MATCH[status]
    if target is RequestStatus.NO_VOLUNTEER_FOUND:
        # published once, after the last decline of the same attempt: it only ends a request
        # that has no volunteer (an older attempt's "nobody" after a later acceptance cannot be)
        if state.status in HAS_A_VOLUNTEER or attempt < state.attempt:
            return state
        return RequestState(target, attempt, version)
    if (attempt, version) <= (state.attempt, state.match_version):
        return state
    if target is state.status and attempt == state.attempt:
        # the same status again at a later version (the four-week follow-up): nothing moves
        return RequestState(state.status, attempt, version)
    return RequestState(target, attempt, version)


_ASKING = frozenset(
    {RequestStatus.REQUESTED, RequestStatus.PROPOSED, RequestStatus.DECLINED, RequestStatus.EXPIRED}
)
_OF_END: dict[MatchEndReason, ReferralStatus] = {
    MatchEndReason.COMPLETED: ReferralStatus.COMPLETED,
    MatchEndReason.PERSON_STOPPED: ReferralStatus.NO_LONGER_INTERESTED,
    # the volunteer stopped, it was not a fit, the coordinator took it back: the referral is
    # withdrawn (a new help question may ask for another volunteer)
    MatchEndReason.VOLUNTEER_STOPPED: ReferralStatus.WITHDRAWN,
    MatchEndReason.NOT_A_FIT: ReferralStatus.WITHDRAWN,
    MatchEndReason.WITHDRAWN: ReferralStatus.WITHDRAWN,
}


def referral_status(status: RequestStatus, end_reason: MatchEndReason | None) -> ReferralStatus:
    """What the referral lifecycle calls it: the matching service is the 'organisation' that
    has the referral; asking volunteers in turn is one sent referral, nobody found is a full
    offer (the team is told, as for any offer without capacity), and the end reason says how the
    referral ended."""
    if status in _ASKING:
        return ReferralStatus.SENT
    if status is RequestStatus.ACCEPTED:
        return ReferralStatus.ACCEPTED
    if status is RequestStatus.ACTIVE:
        return ReferralStatus.IN_PROGRESS
    if status is RequestStatus.NO_VOLUNTEER_FOUND:
        return ReferralStatus.NO_CAPACITY
    return _OF_END[end_reason] if end_reason else ReferralStatus.WITHDRAWN


MATCHING_NAME = "Vrijwilligers (koppeling)"
"""The offer's name of a match request on referrals.v1 (the municipality's volunteer matching)."""


def matching_offer_id(municipality: str) -> UUID:
    """A stable id for 'the volunteer matching of this municipality' as service and organisation
    of a match request's referral: the offer evaluation counts it like any offer."""
    return uuid5(NAMESPACE_URL, f"urn:signaalpunt:matching:{municipality}")
