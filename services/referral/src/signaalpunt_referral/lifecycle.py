"""The referral lifecycle (pure): who may move a referral from which status to which.

proposed → sent → accepted | declined | no_capacity → in_progress → completed | could_not_contact |
no_longer_interested | referred_elsewhere. The team sends, withdraws and may record the outcome
for an organisation that has no system; the receiving organisation answers (accept, decline, no
capacity) and reports progress and the outcome. Anything else is refused (HTTP 409). Capacity
moves with the status: a place is taken on accept and given back when the referral ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from signaalpunt_contracts import Need, ReferralStatus

S = ReferralStatus


class Actor(StrEnum):
    TEAM = "team"  # the desk, team welzijn/eenzaamheid, the coordinator
    ORGANISATION = "organisation"  # the receiving organisation (scoped token or signed callback)
    SYSTEM = "system"  # automatic referral for a route


OUTCOMES = frozenset(
    {S.COMPLETED, S.COULD_NOT_CONTACT, S.NO_LONGER_INTERESTED, S.REFERRED_ELSEWHERE}
)
ENDED = OUTCOMES | {S.DECLINED, S.NO_CAPACITY, S.WITHDRAWN}
HOLDS_A_PLACE = frozenset({S.ACCEPTED, S.IN_PROGRESS})
"""Statuses in which the referral occupies one of the offer's places."""
ANSWERS = frozenset({S.ACCEPTED, S.DECLINED, S.NO_CAPACITY})

_ALLOWED: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    S.PROPOSED: frozenset({S.SENT, S.WITHDRAWN}),
    S.SENT: ANSWERS | {S.WITHDRAWN},
    S.ACCEPTED: frozenset({S.IN_PROGRESS, *OUTCOMES, S.WITHDRAWN}),
    S.IN_PROGRESS: OUTCOMES | {S.WITHDRAWN},
}

_WHO: dict[ReferralStatus, frozenset[Actor]] = {
    S.SENT: frozenset({Actor.TEAM, Actor.SYSTEM}),
    S.WITHDRAWN: frozenset({Actor.TEAM}),
    S.ACCEPTED: frozenset({Actor.ORGANISATION, Actor.TEAM}),
    S.DECLINED: frozenset({Actor.ORGANISATION, Actor.TEAM}),
    S.NO_CAPACITY: frozenset({Actor.ORGANISATION, Actor.TEAM}),
    S.IN_PROGRESS: frozenset({Actor.ORGANISATION, Actor.TEAM}),
    **{o: frozenset({Actor.ORGANISATION, Actor.TEAM}) for o in OUTCOMES},
}


class TransitionRefusedError(Exception):
    """Not possible from the referral's status, or not for this actor (HTTP 409)."""


@dataclass(frozen=True)
class Move:
    status: ReferralStatus
    takes_place: bool
    """Take one of the offer's places (refused when none is open)."""
    gives_back_place: bool
    propose_next: bool
    """The organisation said no: the next candidate is proposed to the team."""


def move(current: ReferralStatus, target: ReferralStatus, actor: Actor) -> Move:
    allowed = _ALLOWED.get(current, frozenset())
    if target not in allowed:
        if current in ENDED:
            raise TransitionRefusedError(f"the referral is {current.value}: it has ended")
        raise TransitionRefusedError(
            f"{target.value} is not possible when the referral is {current.value} "
            f"(possible: {', '.join(sorted(s.value for s in allowed)) or 'nothing'})"
        )
    if actor not in _WHO.get(target, frozenset()):
        raise TransitionRefusedError(f"{actor.value} cannot set a referral to {target.value}")
    return Move(
        status=target,
        takes_place=target in HOLDS_A_PLACE and current not in HOLDS_A_PLACE,
        gives_back_place=current in HOLDS_A_PLACE and target not in HOLDS_A_PLACE,
        propose_next=target in {S.DECLINED, S.NO_CAPACITY},
    )


def superseded(
    proposal_needs: Iterable[Need], status: ReferralStatus, met: frozenset[Need]
) -> bool:
    """A proposal nobody sent whose needs are all met by completed referrals: referral's part
    of the case is done for those needs, so it is withdrawn (a proposal for a need still open
    stays for the team)."""
    needs = frozenset(proposal_needs)
    return status is S.PROPOSED and bool(needs) and needs <= met
