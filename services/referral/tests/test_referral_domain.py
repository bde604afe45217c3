"""The pure rules of referral: eligibility and ranking, the lifecycle, working-day deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from signaalpunt_contracts import GapReason, HelpQuestion, Mobility, Need, ReferralStatus, RiskGroup
from signaalpunt_referral.deadlines import respond_by
from signaalpunt_referral.lifecycle import Actor, TransitionRefusedError, move
from signaalpunt_referral.ranking import (
    Delivery,
    Offer,
    Person,
    ServiceStatus,
    constraint_failed,
    rank,
)

S = ReferralStatus
TERNEUZEN = "GM0715"
SLUIS = "GM1714"


def offer(**changes: object) -> Offer:
    base = Offer(
        service_id=uuid4(),
        organisation_id=uuid4(),
        name="Maatjesproject",
        areas=frozenset({TERNEUZEN}),
        status=ServiceStatus.ACTIVE,
        needs=frozenset({Need.BUDDY}),
        languages=frozenset({"nl"}),
        open_places=3,
        lat=51.33,
        lon=3.83,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def person(**question: object) -> Person:
    risk = question.pop("risk_groups", frozenset())
    municipality = str(question.pop("municipality", TERNEUZEN))
    values: dict[str, object] = {"needs": (Need.BUDDY,), "consent_to_refer": True, **question}
    return Person(
        municipality=municipality,
        question=HelpQuestion.model_validate(values),
        risk_groups=risk,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("who", "what", "ruled_out_by"),
    [
        (person(), offer(), None),
        (person(municipality=SLUIS), offer(), "area"),
        (person(municipality=SLUIS), offer(areas=frozenset({TERNEUZEN, SLUIS})), None),  # regional
        (person(), offer(status=ServiceStatus.INACTIVE), "status"),
        (person(), offer(status=ServiceStatus.TEMPORARILY_CLOSED), "status"),
        (person(), offer(needs=frozenset({Need.DEBT_MONEY})), "need"),
        # age bounds are inclusive
        (person(age=18), offer(min_age=18, max_age=24), None),
        (person(age=24), offer(min_age=18, max_age=24), None),
        (person(age=17), offer(min_age=18, max_age=24), "age"),
        (person(age=25), offer(min_age=18, max_age=24), "age"),
        (person(), offer(min_age=18, max_age=24), None),  # age unknown: not ruled out
        (person(), offer(target_groups=frozenset({RiskGroup.GRIEF_AND_LOSS})), "target_group"),
        (
            person(risk_groups=frozenset({RiskGroup.GRIEF_AND_LOSS})),
            offer(target_groups=frozenset({RiskGroup.GRIEF_AND_LOSS})),
            None,
        ),
        (person(languages=("ar",)), offer(), "language"),
        (person(languages=("ar", "nl")), offer(), None),
        (person(languages=("ar",)), offer(languages=frozenset()), None),  # no language bound
        (person(mobility=Mobility.HOUSEBOUND), offer(), "mobility"),
        (person(mobility=Mobility.HOUSEBOUND), offer(delivery=frozenset({Delivery.AT_HOME})), None),
        (
            person(mobility=Mobility.NEEDS_TRANSPORT, near={"lat": 51.33, "lon": 3.83}),
            offer(lat=51.50, lon=4.30),  # ~37 km
            "distance",
        ),
        (
            person(mobility=Mobility.TRAVELS_INDEPENDENTLY, near={"lat": 51.33, "lon": 3.83}),
            offer(lat=51.50, lon=4.30),
            None,
        ),
        (person(), offer(open_places=0), "capacity"),
        (person(), offer(open_places=None), None),  # no capacity limit
    ],
)
def test_eligibility_edge_cases(who: Person, what: Offer, ruled_out_by: str | None) -> None:
    failed = constraint_failed(who, what)
    assert (failed.value if failed else None) == ruled_out_by


def test_ranking_orders_by_fit_and_says_why() -> None:
    near = {"lat": 51.33, "lon": 3.83}
    grief_group = offer(
        name="Rouw- en verliesgroep",
        needs=frozenset({Need.GRIEF_SUPPORT}),
        target_groups=frozenset({RiskGroup.GRIEF_AND_LOSS}),
    )
    maatje = offer(name="Maatje", needs=frozenset({Need.BUDDY}))
    both_far = offer(
        name="Humanitas regio",
        needs=frozenset({Need.GRIEF_SUPPORT, Need.BUDDY}),
        areas=frozenset({TERNEUZEN, SLUIS}),
        lat=51.40,
        lon=3.95,
    )
    full = offer(name="Vol", needs=frozenset({Need.GRIEF_SUPPORT}), open_places=0)
    closed = offer(name="Dicht", status=ServiceStatus.INACTIVE)
    who = person(
        needs=(Need.GRIEF_SUPPORT, Need.BUDDY),
        near=near,
        risk_groups=frozenset({RiskGroup.GRIEF_AND_LOSS}),
    )
    result = rank(who, [maatje, full, grief_group, closed, both_far], prefiltered={"need": 7})
    assert [p.offer.name for p in result.proposals] == [
        "Humanitas regio",  # meets both needs
        "Rouw- en verliesgroep",  # the first need, aimed at grief
        "Maatje",
    ]
    assert [p.rank for p in result.proposals] == [1, 2, 3]
    top = result.proposals[0]
    assert top.reasons[:2] == ("need:grief_support", "need:buddy")
    assert "regional" in top.reasons
    assert any(r.startswith("distance:") for r in top.reasons)
    assert "risk_group:grief_and_loss" in result.proposals[1].reasons
    assert result.ruled_out == {"need": 7, "capacity": 1, "status": 1}
    assert [o.name for o in result.full] == ["Vol"]
    assert result.gaps == ()


def test_gaps_tell_nothing_exists_from_all_full() -> None:
    who = person(needs=(Need.GRIEF_SUPPORT, Need.DEBT_MONEY, Need.BUDDY))
    full_grief = offer(needs=frozenset({Need.GRIEF_SUPPORT}), open_places=0)
    result = rank(who, [full_grief, offer()])
    assert [(g.need, g.reason) for g in result.gaps] == [
        (Need.GRIEF_SUPPORT, GapReason.ALL_FULL),
        (Need.DEBT_MONEY, GapReason.NO_ELIGIBLE_OFFER),
    ]


def test_ranking_is_stable_for_equal_fits() -> None:
    a = offer(service_id=UUID(int=2))
    b = offer(service_id=UUID(int=1))
    assert [p.offer.service_id for p in rank(person(), [a, b]).proposals] == [
        UUID(int=1),
        UUID(int=2),
    ]


LIFECYCLE = [
    # (from, to, actor, allowed, takes a place, gives one back, propose the next)
    (S.PROPOSED, S.SENT, Actor.TEAM, True, False, False, False),
    (S.PROPOSED, S.SENT, Actor.SYSTEM, True, False, False, False),
    (S.PROPOSED, S.SENT, Actor.ORGANISATION, False, False, False, False),
    (S.PROPOSED, S.ACCEPTED, Actor.ORGANISATION, False, False, False, False),
    (S.PROPOSED, S.WITHDRAWN, Actor.TEAM, True, False, False, False),
    (S.SENT, S.ACCEPTED, Actor.ORGANISATION, True, True, False, False),
    (S.SENT, S.DECLINED, Actor.ORGANISATION, True, False, False, True),
    (S.SENT, S.NO_CAPACITY, Actor.ORGANISATION, True, False, False, True),
    (S.SENT, S.IN_PROGRESS, Actor.ORGANISATION, False, False, False, False),
    (S.SENT, S.COMPLETED, Actor.ORGANISATION, False, False, False, False),
    (S.SENT, S.WITHDRAWN, Actor.ORGANISATION, False, False, False, False),
    (S.ACCEPTED, S.IN_PROGRESS, Actor.ORGANISATION, True, False, False, False),
    (S.ACCEPTED, S.ACCEPTED, Actor.ORGANISATION, False, False, False, False),
    (S.ACCEPTED, S.DECLINED, Actor.ORGANISATION, False, False, False, False),
    (S.ACCEPTED, S.COULD_NOT_CONTACT, Actor.ORGANISATION, True, False, True, False),
    (S.ACCEPTED, S.WITHDRAWN, Actor.TEAM, True, False, True, False),
    (S.IN_PROGRESS, S.COMPLETED, Actor.ORGANISATION, True, False, True, False),
    (S.IN_PROGRESS, S.NO_LONGER_INTERESTED, Actor.TEAM, True, False, True, False),
    (S.IN_PROGRESS, S.REFERRED_ELSEWHERE, Actor.ORGANISATION, True, False, True, False),
    (S.IN_PROGRESS, S.SENT, Actor.TEAM, False, False, False, False),
    (S.COMPLETED, S.IN_PROGRESS, Actor.ORGANISATION, False, False, False, False),
    (S.DECLINED, S.ACCEPTED, Actor.ORGANISATION, False, False, False, False),
    (S.WITHDRAWN, S.SENT, Actor.TEAM, False, False, False, False),
]


@pytest.mark.parametrize(
    ("current", "target", "actor", "allowed", "takes", "gives", "next_"), LIFECYCLE
)
def test_the_lifecycle_table(
    current: S, target: S, actor: Actor, allowed: bool, takes: bool, gives: bool, next_: bool
) -> None:
    if not allowed:
        with pytest.raises(TransitionRefusedError):
            move(current, target, actor)
        return
    result = move(current, target, actor)
    assert (result.status, result.takes_place, result.gives_back_place, result.propose_next) == (
        target,
        takes,
        gives,
        next_,
    )


@pytest.mark.parametrize(
    ("sent", "days", "due"),
    [
        # Monday: two working days → Wednesday 17:00 Amsterdam
        (datetime(2026, 11, 23, 10, tzinfo=UTC), 2, "2026-11-25T17:00:00+01:00"),
        # Friday: the weekend does not count → Tuesday
        (datetime(2026, 11, 27, 10, tzinfo=UTC), 2, "2026-12-01T17:00:00+01:00"),
        # 24 December: Christmas Day and Boxing Day are holidays → 28, 29 December
        (datetime(2026, 12, 24, 10, tzinfo=UTC), 2, "2026-12-29T17:00:00+01:00"),
        # the day before King's Day (27 April 2027, a Tuesday) → Wednesday
        (datetime(2027, 4, 26, 10, tzinfo=UTC), 1, "2027-04-28T17:00:00+02:00"),
    ],
)
def test_the_response_deadline_counts_working_days(sent: datetime, days: int, due: str) -> None:
    assert respond_by(sent, days).isoformat() == due
