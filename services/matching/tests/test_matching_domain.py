"""Table tests of the pure parts: hard constraints, scores and reasons, the lifecycle, the answer
links, the CSV reader and the postcode areas."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from signaalpunt_contracts import MatchConstraint, MatchStatus, Need
from signaalpunt_matching.csv_import import read_csv
from signaalpunt_matching.domain import (
    Actor,
    Request,
    Skill,
    TransitionRefusedError,
    Volunteer,
    VolunteerStatus,
    best,
    check_move,
    failed_constraint,
    fairness_bound,
    km_between,
    score,
)
from signaalpunt_matching.links import AnswerLinks, ExpiredLinkError, ForgedLinkError
from signaalpunt_matching.postcodes import UnknownPostcodeError, area_of, nearest_place

TERNEUZEN = (51.336, 3.828)
AXEL = (51.266, 3.909)
START = date(2026, 12, 1)


def a_volunteer(**overrides: object) -> Volunteer:
    base = Volunteer(
        volunteer_id=UUID(int=1),
        status=VolunteerStatus.ACTIVE,
        skills=frozenset({Skill.VISITS}),
        trained_on=None,
        languages=frozenset({"nl"}),
        interests=frozenset(),
        availability=frozenset(),
        home=TERNEUZEN,
        max_travel_km=5.0,
        max_matches=2,
        load=0,
        matches_counted=0,
        vog_expires_on=date(2028, 1, 1),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def a_request(**overrides: object) -> Request:
    base = Request(
        needs=(Need.BUDDY,),
        languages=frozenset({"nl"}),
        near=TERNEUZEN,
        interests=frozenset(),
        availability=frozenset(),
        start_on=START,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("volunteer", "request_", "failed"),
    [
        ({}, {}, None),
        ({"status": VolunteerStatus.PAUSED}, {}, MatchConstraint.STATUS),
        ({"status": VolunteerStatus.LEFT}, {}, MatchConstraint.STATUS),
        ({"vog_expires_on": None}, {}, MatchConstraint.VOG),
        ({"vog_expires_on": START - timedelta(days=1)}, {}, MatchConstraint.VOG),
        ({"vog_expires_on": START}, {}, None),  # valid on the start date itself
        ({"skills": frozenset({Skill.GROCERIES})}, {}, MatchConstraint.SKILL),
        ({"skills": frozenset({Skill.GROCERIES})}, {"needs": (Need.PRACTICAL_HELP,)}, None),
        (
            {"skills": frozenset({Skill.EXISTENTIAL_CONVERSATION})},
            {"needs": (Need.EXISTENTIAL_CONVERSATION,)},
            MatchConstraint.TRAINING,
        ),
        (
            {"skills": frozenset({Skill.EXISTENTIAL_CONVERSATION}), "trained_on": START},
            {"needs": (Need.EXISTENTIAL_CONVERSATION,)},
            None,
        ),
        (
            {"skills": frozenset({Skill.VISITS}), "trained_on": None},
            {"needs": (Need.BUDDY, Need.EXISTENTIAL_CONVERSATION)},
            MatchConstraint.TRAINING,  # the buddy part does not make an untrained one fit
        ),
        ({"load": 2}, {}, MatchConstraint.CAPACITY),
        ({"max_matches": 0}, {}, MatchConstraint.CAPACITY),
        ({"languages": frozenset({"ar"})}, {}, MatchConstraint.LANGUAGE),
        ({"languages": frozenset({"ar"})}, {"languages": frozenset()}, None),
        ({"home": AXEL}, {}, MatchConstraint.DISTANCE),
        ({"home": AXEL, "max_travel_km": 15.0}, {}, None),
        ({"home": AXEL}, {"near": None}, None),  # unknown neighbourhood: no distance bound
        ({}, {"already_asked": frozenset({UUID(int=1)})}, MatchConstraint.ALREADY_ASKED),
        # the order: the first failing constraint is the one counted
        ({"status": VolunteerStatus.PAUSED, "vog_expires_on": None}, {}, MatchConstraint.STATUS),
        ({"load": 2, "home": AXEL}, {}, MatchConstraint.CAPACITY),
    ],
)
def test_hard_constraints(
    volunteer: dict[str, object], request_: dict[str, object], failed: MatchConstraint | None
) -> None:
    assert failed_constraint(a_volunteer(**volunteer), a_request(**request_)) is failed


@pytest.mark.parametrize(
    ("volunteer", "request_", "reasons"),
    [
        ({}, {}, ("distance:0km", "load:0/2", "given:0")),
        (
            {"interests": frozenset({"chess", "music"})},
            {"interests": frozenset({"chess", "music", "walking"})},
            ("distance:0km", "interests:2", "load:0/2", "given:0"),
        ),
        (
            {"availability": frozenset({"mon_morning"})},
            {"availability": frozenset({"mon_morning", "tue_evening"})},
            ("distance:0km", "availability:1/2", "load:0/2", "given:0"),
        ),
        ({}, {"earlier_volunteers": frozenset({UUID(int=1)})}, None),
    ],
)
def test_scores_carry_their_reasons(
    volunteer: dict[str, object], request_: dict[str, object], reasons: tuple[str, ...] | None
) -> None:
    scored = score(a_volunteer(**volunteer), a_request(**request_), least_counted=0)
    if reasons is None:
        assert "continuity" in scored.reasons
    else:
        assert scored.reasons == reasons


def test_the_score_orders_by_fit_and_the_fair_spread_wins_past_its_bound() -> None:
    near = a_volunteer(volunteer_id=UUID(int=1), home=TERNEUZEN, max_travel_km=20.0)
    far = a_volunteer(volunteer_id=UUID(int=2), home=AXEL, max_travel_km=20.0)
    r = a_request()
    assert [s.volunteer for s in best([far, near], r)] == [near, far]
    busy = replace(near, matches_counted=fairness_bound())
    assert best([busy, far], r)[0].volunteer == far
    continuity = a_request(earlier_volunteers=frozenset({far.volunteer_id}))
    assert best([near, far], continuity)[0].volunteer == far
    assert best([a_volunteer(status=VolunteerStatus.PAUSED)], r) == []


def test_distance_is_great_circle_km() -> None:
    assert 9.0 < km_between(TERNEUZEN, AXEL) < 11.0
    assert km_between(TERNEUZEN, TERNEUZEN) == 0.0


@pytest.mark.parametrize(
    ("current", "target", "actor", "allowed"),
    [
        (MatchStatus.PROPOSED, MatchStatus.ACCEPTED, Actor.VOLUNTEER, True),
        (MatchStatus.PROPOSED, MatchStatus.ACCEPTED, Actor.STAFF, False),
        (MatchStatus.PROPOSED, MatchStatus.DECLINED, Actor.STAFF, True),
        (MatchStatus.PROPOSED, MatchStatus.EXPIRED, Actor.SYSTEM, True),
        (MatchStatus.PROPOSED, MatchStatus.EXPIRED, Actor.VOLUNTEER, False),
        (MatchStatus.ACCEPTED, MatchStatus.ACTIVE, Actor.STAFF, True),
        (MatchStatus.ACCEPTED, MatchStatus.ENDED, Actor.STAFF, True),
        (MatchStatus.ACTIVE, MatchStatus.ENDED, Actor.STAFF, True),
        (MatchStatus.ACTIVE, MatchStatus.ACCEPTED, Actor.STAFF, False),
        (MatchStatus.DECLINED, MatchStatus.ACCEPTED, Actor.VOLUNTEER, False),
        (MatchStatus.EXPIRED, MatchStatus.ACCEPTED, Actor.VOLUNTEER, False),
        (MatchStatus.ENDED, MatchStatus.ACTIVE, Actor.STAFF, False),
    ],
)
def test_lifecycle(current: MatchStatus, target: MatchStatus, actor: Actor, allowed: bool) -> None:
    if allowed:
        check_move(current, target, actor)
    else:
        with pytest.raises(TransitionRefusedError):
            check_move(current, target, actor)


def test_answer_links_cannot_be_forged_or_used_after_their_deadline() -> None:
    links = AnswerLinks(b"k" * 32, "https://matching.example")
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    match_id = uuid4()
    token, nonce = links.issue(match_id, now + timedelta(hours=72))
    claims = links.verify(token, now)
    assert (claims.match_id, claims.nonce) == (match_id, nonce)
    assert links.url(token) == f"https://matching.example/v1/matching/answers/{token}"
    with pytest.raises(ExpiredLinkError):
        links.verify(token, now + timedelta(hours=73))
    other = AnswerLinks(b"x" * 32, "https://matching.example")
    with pytest.raises(ForgedLinkError):
        other.verify(token, now)  # signed with another key
    head, payload, signature = token.split(".")
    with pytest.raises(ForgedLinkError):
        links.verify(f"{head}.{payload}x.{signature}", now)
    with pytest.raises(ForgedLinkError):
        links.verify("not-a-token", now)
    assert nonce != links.issue(match_id, now + timedelta(hours=72))[1]


def test_the_csv_reader_rejects_rows_with_their_line_and_keeps_the_rest() -> None:
    text = (
        "municipality,external_id,first_name,postcode,skills,languages,vog_expires_on\n"
        "GM0715,V1,Anna,4531 AB,visits;walks,nl;en,2028-01-01\n"
        "GM0715,V2,,4531 AB,visits,nl,2028-01-01\n"
        "GM0715,V3,Bram,4531 AB,juggling,nl,2028-01-01\n"
        "GM0715,V4,Carla,4571 GH,groceries,nl,not a date\n"
        "GM0715,V5,Daan,4571 GH,groceries,nl,2028-01-01\n"
    )
    parsed = read_csv(text)
    assert [(line, v.external_id) for line, v in parsed.items] == [(2, "V1"), (6, "V5")]
    assert parsed.items[0][1].skills == (Skill.VISITS, Skill.WALKS)
    assert [(r.line, r.external_id) for r in parsed.rejected] == [(3, "V2"), (4, "V3"), (5, "V4")]
    assert "first_name" in parsed.rejected[0].reason
    assert "Bram" not in " ".join(r.reason for r in parsed.rejected)
    unknown = read_csv("municipality,first_name,shoe_size\nGM0715,Anna,44\n")
    assert unknown.rejected[0].reason == "unknown columns: shoe_size"


def test_postcode_areas_of_the_demo_municipalities() -> None:
    assert area_of("4531 AB").municipality == "GM0715"
    assert area_of("4561ab").place == "Hulst"
    with pytest.raises(UnknownPostcodeError):
        area_of("1012 AB")  # Amsterdam: not a demo municipality
    with pytest.raises(UnknownPostcodeError):
        area_of("nonsense")
    assert nearest_place(51.27, 3.91).startswith("Axel")
