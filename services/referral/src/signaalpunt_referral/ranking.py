"""Which offers on the social map fit a help question, in what order, and why (pure).

First the constraints: an offer that does not serve the person's municipality, is not active,
serves none of the needs, is outside its age range, is only for risk groups the person is not in,
shares no language with the person, cannot reach a housebound person, or is too far for someone
who needs transport is ruled out, and the constraint is named. An eligible offer without an open
place is kept apart as full: it is not proposed, but it tells the gap report "all full" from
"nothing exists". What remains is ranked by fit: needs met, risk groups aimed at, the person's
first language, distance, local before regional, open places; each proposal lists its reasons.

The repository judges the same constraints and computes the same score in SQL (on one GIN index
of areas and needs) and hands over only the best few, with the counts of what it ruled out and
which needs the whole map can meet (`Coverage`); this module stays the definition: it judges and
scores those few again, gives the reasons, and (in tests) ranks a whole map to check the SQL.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from signaalpunt_contracts import GapReason, HelpQuestion, Mobility, Need, RiskGroup


class ServiceStatus(StrEnum):
    """HSDS service status (Dutch: actief, inactief, tijdelijk gesloten)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    TEMPORARILY_CLOSED = "temporarily closed"
    DEFUNCT = "defunct"


class Delivery(StrEnum):
    AT_LOCATION = "at_location"  # the person comes to the offer
    AT_HOME = "at_home"  # someone visits the person
    ONLINE = "online"


class Constraint(StrEnum):
    """Why an offer was ruled out, in the order they are checked."""

    AREA = "area"
    STATUS = "status"
    NEED = "need"
    AGE = "age"
    TARGET_GROUP = "target_group"
    LANGUAGE = "language"
    MOBILITY = "mobility"
    DISTANCE = "distance"
    CAPACITY = "capacity"


MAX_KM_WITH_TRANSPORT = 15.0
"""Someone who needs transport is offered nothing further away than this."""


@dataclass(frozen=True)
class Offer:
    """A service on the social map as ranking sees it."""

    service_id: UUID
    organisation_id: UUID
    name: str
    areas: frozenset[str]
    status: ServiceStatus
    needs: frozenset[Need]
    languages: frozenset[str]
    open_places: int | None
    """None: no capacity limit (a walk-in, an open group)."""
    min_age: int | None = None
    max_age: int | None = None
    target_groups: frozenset[RiskGroup] = frozenset()
    """Empty: for everyone; otherwise only for people in one of these risk groups."""
    delivery: frozenset[Delivery] = frozenset({Delivery.AT_LOCATION})
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Person:
    """What ranking needs to know of the person: the help question, municipality, risk groups."""

    municipality: str
    question: HelpQuestion
    risk_groups: frozenset[RiskGroup] = frozenset()


@dataclass(frozen=True)
class Proposal:
    offer: Offer
    rank: int
    score: float
    reasons: tuple[str, ...]
    needs_met: tuple[Need, ...]


@dataclass(frozen=True)
class Gap:
    need: Need
    reason: GapReason


@dataclass(frozen=True)
class Coverage:
    """Which of the needs some eligible offer with an open place meets (`met`), and which only
    a full one (`met_when_full`), over the whole map, not only the candidates ranked."""

    met: frozenset[Need]
    met_when_full: frozenset[Need]


@dataclass(frozen=True)
class Ranking:
    proposals: tuple[Proposal, ...]
    ruled_out: dict[str, int]
    """How many offers each constraint ruled out (including those SQL filtered out)."""
    full: tuple[Offer, ...]
    gaps: tuple[Gap, ...] = field(default=())


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance (haversine); close enough for 'is it in reach'."""
    r = 6371.0
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def _distance(person: Person, offer: Offer) -> float | None:
    near = person.question.near
    if near is None or offer.lat is None or offer.lon is None:
        return None
    return distance_km(near.lat, near.lon, offer.lat, offer.lon)


def constraint_failed(person: Person, offer: Offer) -> Constraint | None:
    """The first constraint that rules this offer out, or None when it is eligible (capacity
    is checked last, so a full offer is told apart from an unfit one)."""
    q = person.question
    if person.municipality not in offer.areas:
        return Constraint.AREA
    if offer.status is not ServiceStatus.ACTIVE:
        return Constraint.STATUS
    if not offer.needs & set(q.needs):
        return Constraint.NEED
    if q.age is not None and (
        (offer.min_age is not None and q.age < offer.min_age)
        or (offer.max_age is not None and q.age > offer.max_age)
    ):
        return Constraint.AGE
    if offer.target_groups and not offer.target_groups & person.risk_groups:
        return Constraint.TARGET_GROUP
    if offer.languages and not offer.languages & set(q.languages):
        return Constraint.LANGUAGE
    reaches_home = bool(offer.delivery & {Delivery.AT_HOME, Delivery.ONLINE})
    if q.mobility is Mobility.HOUSEBOUND and not reaches_home:
        return Constraint.MOBILITY
    km = _distance(person, offer)
    if (
        q.mobility is Mobility.NEEDS_TRANSPORT
        and not reaches_home
        and km is not None
        and km > MAX_KM_WITH_TRANSPORT
    ):
        return Constraint.DISTANCE
    if offer.open_places is not None and offer.open_places <= 0:
        return Constraint.CAPACITY
    return None


def _score(person: Person, offer: Offer) -> tuple[float, tuple[str, ...], tuple[Need, ...]]:
    q = person.question
    met = tuple(n for n in q.needs if n in offer.needs)
    # the needs the desk named first matter most
    score = sum(10.0 - i for i, n in enumerate(q.needs) if n in offer.needs)
    reasons = [f"need:{n.value}" for n in met]
    for group in sorted(offer.target_groups & person.risk_groups):
        score += 3.0
        reasons.append(f"risk_group:{group.value}")
    shared = [lang for lang in q.languages if lang in offer.languages]
    if shared:
        score += 2.0 if shared[0] == q.languages[0] else 1.0
        reasons.append(f"language:{shared[0]}")
    km = _distance(person, offer)
    if km is not None:
        score -= min(km, 30.0) / 10.0
        reasons.append(f"distance:{round(km)}km")
    if len(offer.areas) == 1:
        score += 0.5
        reasons.append("local")
    else:
        reasons.append("regional")
    if offer.open_places is not None:
        score += min(offer.open_places, 10) / 20.0
        reasons.append(f"open_places:{offer.open_places}")
    return score, tuple(reasons), met


def rank(
    person: Person,
    candidates: Iterable[Offer],
    *,
    prefiltered: dict[str, int] | None = None,
    limit: int = 5,
    coverage: Coverage | None = None,
) -> Ranking:
    """Rank `candidates` for `person`; `prefiltered` counts what SQL ruled out already, and
    `coverage` (when SQL cut the candidates) tells the gaps over the whole map."""
    ruled_out: Counter[str] = Counter(prefiltered or {})
    eligible: list[tuple[float, str, Offer, tuple[str, ...], tuple[Need, ...]]] = []
    full: list[Offer] = []
    for offer in candidates:
        failed = constraint_failed(person, offer)
        if failed is Constraint.CAPACITY:
            full.append(offer)
            ruled_out[failed.value] += 1
        elif failed is not None:
            ruled_out[failed.value] += 1
        else:
            score, reasons, met = _score(person, offer)
            eligible.append((score, str(offer.service_id), offer, reasons, met))
    # ties broken by id so the same map gives the same order every time
    eligible.sort(key=lambda e: (-e[0], e[1]))
    proposals = tuple(
        Proposal(offer=o, rank=i + 1, score=round(s, 3), reasons=r, needs_met=m)
        for i, (s, _, o, r, m) in enumerate(eligible[:limit])
    )
    return Ranking(
        proposals=proposals,
        ruled_out=dict(ruled_out),
        full=tuple(full),
        gaps=gaps_of(
            person.question.needs,
            coverage
            or Coverage(
                met=frozenset(n for e in eligible for n in e[2].needs),
                met_when_full=frozenset(n for o in full for n in o.needs),
            ),
        ),
    )


def gaps_of(needs: Sequence[Need], coverage: Coverage) -> tuple[Gap, ...]:
    """Each need no eligible offer meets: all full when a full offer would have met it."""
    gaps: list[Gap] = []
    for need in needs:
        if need in coverage.met:
            continue
        reason = (
            GapReason.ALL_FULL if need in coverage.met_when_full else GapReason.NO_ELIGIBLE_OFFER
        )
        gaps.append(Gap(need=need, reason=reason))
    return tuple(gaps)
