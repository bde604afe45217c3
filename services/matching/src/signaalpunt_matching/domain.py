"""Which volunteer fits a match request, in what order, and why; and who may move a match (pure).

The hard constraints come first, in a fixed order so the unmatched report can name the one that
failed most: the volunteer is active, has a certificate of conduct (VOG) valid on the start date,
does something the person needs, is trained where the need is existential (levensvragen), has
room for another match, shares a language and lives within their own travel distance of the
person's neighbourhood. The repository applies the same constraints in SQL (indexed), so this
module only sees candidates that passed; `eligible` here is the reference the tests hold the SQL
to. Then the score, with its reasons: distance, shared interests, overlapping availability, a
fair spread of load and continuity with an earlier volunteer of the same person.

Fairness: each match a volunteer has been given counts `FAIRNESS_WEIGHT` points against them,
more than any single difference in fit is worth once counts drift apart by `fairness_bound()`, so
over many requests equally eligible volunteers are asked within that bound of each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from signaalpunt_contracts import MatchConstraint, MatchEndReason, MatchStatus, Need


class Skill(StrEnum):
    """What a volunteer does (the coordinator records it; training only for existential)."""

    EXISTENTIAL_CONVERSATION = "existential_conversation"  # getraind voor levensvragen
    VISITS = "visits"  # bezoek, maatje
    WALKS = "walks"  # samen wandelen
    GROCERIES = "groceries"  # boodschappen
    DIGITAL_HELP = "digital_help"
    LANGUAGE_BUDDY = "language_buddy"  # taalmaatje


class VolunteerStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    LEFT = "left"


SKILLS_FOR_NEED: dict[Need, frozenset[Skill]] = {
    Need.BUDDY: frozenset({Skill.VISITS, Skill.WALKS}),
    Need.SOCIAL_CONTACT: frozenset({Skill.VISITS, Skill.WALKS}),
    Need.PRACTICAL_HELP: frozenset({Skill.GROCERIES}),
    Need.EXISTENTIAL_CONVERSATION: frozenset({Skill.EXISTENTIAL_CONVERSATION}),
    Need.DIGITAL_SKILLS: frozenset({Skill.DIGITAL_HELP}),
    Need.LANGUAGE: frozenset({Skill.LANGUAGE_BUDDY}),
}
"""Which skills serve which need; a need without an entry is not one volunteers meet."""

TRAINED_NEEDS = frozenset({Need.EXISTENTIAL_CONVERSATION})
"""Needs only a trained volunteer may take (always coupled to a social worker)."""


def skills_for(needs: Iterable[Need]) -> frozenset[Skill]:
    return frozenset(s for n in needs for s in SKILLS_FOR_NEED.get(n, ()))


def needs_training(needs: Iterable[Need]) -> bool:
    return any(n in TRAINED_NEEDS for n in needs)


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km (haversine); the same formula the SQL pre-filter uses."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Volunteer:
    """What matching reads of a volunteer (nothing personal: names and contacts stay sealed)."""

    volunteer_id: UUID
    status: VolunteerStatus
    skills: frozenset[Skill]
    trained_on: date | None
    languages: frozenset[str]
    interests: frozenset[str]
    availability: frozenset[str]
    home: tuple[float, float]  # the centroid of the volunteer's postcode area
    max_travel_km: float
    max_matches: int
    load: int  # open matches: proposed, accepted, active
    matches_counted: int  # matches given so far, for the fair spread
    vog_expires_on: date | None
    social_worker: str | None = None


@dataclass(frozen=True)
class Request:
    """A match request as matching sees it."""

    needs: tuple[Need, ...]
    languages: frozenset[str]
    near: tuple[float, float] | None
    interests: frozenset[str]
    availability: frozenset[str]
    start_on: date
    earlier_volunteers: frozenset[UUID] = frozenset()
    already_asked: frozenset[UUID] = frozenset()


def failed_constraint(v: Volunteer, r: Request) -> MatchConstraint | None:
    """The first hard constraint `v` fails for `r`, or None when `v` is eligible."""
    checks: Sequence[tuple[MatchConstraint, bool]] = (
        (MatchConstraint.STATUS, v.status is VolunteerStatus.ACTIVE),
        (MatchConstraint.VOG, v.vog_expires_on is not None and v.vog_expires_on >= r.start_on),
        (MatchConstraint.SKILL, bool(v.skills & skills_for(r.needs))),
        (
            MatchConstraint.TRAINING,
            not needs_training(r.needs)
            or (
                Skill.EXISTENTIAL_CONVERSATION in v.skills
                and v.trained_on is not None
                and v.trained_on <= r.start_on
            ),
        ),
        (MatchConstraint.CAPACITY, v.load < v.max_matches),
        (MatchConstraint.LANGUAGE, not r.languages or bool(v.languages & r.languages)),
        (
            MatchConstraint.DISTANCE,
            r.near is None or km_between(v.home, r.near) <= v.max_travel_km,
        ),
        (MatchConstraint.ALREADY_ASKED, v.volunteer_id not in r.already_asked),
    )
    for constraint, passed in checks:
        if not passed:
            return constraint
    return None


# -- the score ------------------------------------------------------------------------------------

DISTANCE_POINTS = 30.0  # all of it at the person's door, none at the volunteer's limit
INTEREST_POINTS = 10.0  # per shared interest …
INTEREST_MAX = 20.0  # … up to two
AVAILABILITY_POINTS = 20.0  # share of the person's slots the volunteer can also do
CONTINUITY_POINTS = 25.0  # the person had this volunteer before (and it did not end badly)
FAIRNESS_WEIGHT = 10.0  # per match given above the least-asked candidate


def fairness_bound() -> int:
    """How far apart (in matches given) two equally eligible volunteers can drift: past this
    difference the fairness penalty outweighs every fit point except continuity."""
    return math.ceil((DISTANCE_POINTS + INTEREST_MAX + AVAILABILITY_POINTS) / FAIRNESS_WEIGHT) + 1


@dataclass(frozen=True)
class Scored:
    volunteer: Volunteer
    score: float
    reasons: tuple[str, ...]
    km: float | None


def score(v: Volunteer, r: Request, *, least_counted: int) -> Scored:
    reasons: list[str] = []
    points = 0.0
    km = km_between(v.home, r.near) if r.near is not None else None
    if km is not None:
        reach = max(v.max_travel_km, 0.1)
        points += DISTANCE_POINTS * max(0.0, 1 - km / reach)
        reasons.append(f"distance:{round(km)}km")
    shared = len(v.interests & r.interests)
    if shared:
        points += min(INTEREST_MAX, INTEREST_POINTS * shared)
        reasons.append(f"interests:{shared}")
    if r.availability:
        overlap = len(v.availability & r.availability)
        points += AVAILABILITY_POINTS * overlap / len(r.availability)
        reasons.append(f"availability:{overlap}/{len(r.availability)}")
    if v.volunteer_id in r.earlier_volunteers:
        points += CONTINUITY_POINTS
        reasons.append("continuity")
    points -= FAIRNESS_WEIGHT * max(0, v.matches_counted - least_counted)
    reasons.append(f"load:{v.load}/{v.max_matches}")
    reasons.append(f"given:{v.matches_counted}")
    return Scored(v, round(points, 2), tuple(reasons), km)


def best(candidates: Sequence[Volunteer], r: Request) -> list[Scored]:
    """The eligible candidates, best first (ties: fewer matches given, then id, so the order is
    stable across replicas)."""
    eligible = [v for v in candidates if failed_constraint(v, r) is None]
    if not eligible:
        return []
    least = min(v.matches_counted for v in eligible)
    scored = [score(v, r, least_counted=least) for v in eligible]
    return sorted(
        scored, key=lambda s: (-s.score, s.volunteer.matches_counted, s.volunteer.volunteer_id)
    )


# -- the lifecycle --------------------------------------------------------------------------------

S = MatchStatus


class Actor(StrEnum):
    VOLUNTEER = "volunteer"  # through the signed answer link
    STAFF = "staff"  # the volunteer coordinator or the coupled social worker
    SYSTEM = "system"  # the response deadline


class TransitionRefusedError(Exception):
    """409: this move is not possible from the match's status, or not by this actor."""


_ALLOWED: dict[MatchStatus, dict[MatchStatus, frozenset[Actor]]] = {
    S.PROPOSED: {
        S.ACCEPTED: frozenset({Actor.VOLUNTEER}),
        S.DECLINED: frozenset({Actor.VOLUNTEER, Actor.STAFF}),
        S.EXPIRED: frozenset({Actor.SYSTEM}),
    },
    S.ACCEPTED: {S.ACTIVE: frozenset({Actor.STAFF}), S.ENDED: frozenset({Actor.STAFF})},
    S.ACTIVE: {S.ENDED: frozenset({Actor.STAFF})},
}

OPEN = frozenset({S.PROPOSED, S.ACCEPTED, S.ACTIVE})
"""Statuses in which the match takes one of the volunteer's places."""
ASK_NEXT = frozenset({S.DECLINED, S.EXPIRED})
"""After these the request goes to the next volunteer."""
NO_CONTINUITY = frozenset({MatchEndReason.NOT_A_FIT, MatchEndReason.VOLUNTEER_STOPPED})
"""An earlier match that ended like this does not make the volunteer a preferred one."""


def check_move(current: MatchStatus, target: MatchStatus, actor: Actor) -> None:
    allowed = _ALLOWED.get(current, {})
    if target not in allowed:
        raise TransitionRefusedError(f"a {current.value} match cannot become {target.value}")
    if actor not in allowed[target]:
        raise TransitionRefusedError(f"{actor.value} may not make a match {target.value}")
