"""The ranking's SQL pre-filter against the pure ranking, on the real PostgreSQL: for random
maps and help questions (ages on the bounds, languages, mobility, distance, full and inactive
offers, regional services), the best few SQL hands over rank to exactly the proposals, the
counts of what each constraint ruled out, and the gaps that the pure ranking finds when it
judges every offer of the map itself."""

from __future__ import annotations

import random
from dataclasses import replace
from uuid import UUID

from referral_harness import RunningReferral
from signaalpunt_contracts import HelpQuestion, Mobility, Need, ReferralChannel, RiskGroup
from signaalpunt_referral import repository as repo
from signaalpunt_referral.handlers import CUT_MARGIN
from signaalpunt_referral.hsds import MapOrganisation, MapService
from signaalpunt_referral.ranking import (
    MAX_KM_WITH_TRANSPORT,
    Delivery,
    Offer,
    Person,
    Ranking,
    ServiceStatus,
    rank,
)

LANGUAGES = ("nl", "en", "ar", "tr", "pl")


def uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def random_offer(rng: random.Random, municipality: str, organisation_id: UUID) -> Offer:
    low = rng.choice([None, None, 18, 50, 65])
    areas = {municipality} if rng.random() < 0.7 else {municipality, "GM0677"}
    if rng.random() < 0.1:
        areas = {"GM0677"}  # another municipality's: never counted, never proposed
    return Offer(
        service_id=uuid(rng),
        organisation_id=organisation_id,
        name=f"Aanbod {rng.randint(1, 10**6)}",
        areas=frozenset(areas),
        status=rng.choice([ServiceStatus.ACTIVE] * 8 + list(ServiceStatus)),
        needs=frozenset(rng.sample(list(Need), rng.randint(1, 3))),
        languages=frozenset(rng.sample(LANGUAGES, rng.randint(0, 2))),
        open_places=rng.choice([None, 0, 0, 1, 4, 12]),
        min_age=low,
        max_age=rng.choice([None, 27, 64]) if low is None or low < 27 else None,
        target_groups=frozenset(rng.sample(list(RiskGroup), 1))
        if rng.random() < 0.25
        else frozenset(),
        delivery=frozenset(rng.sample(list(Delivery), rng.randint(1, 2))),
        lat=51.1 + rng.random() * 0.4 if rng.random() < 0.9 else None,
        lon=3.6 + rng.random() * 0.5,
    )


def random_person(rng: random.Random, municipality: str) -> Person:
    question = HelpQuestion.model_validate(
        {
            "needs": rng.sample(list(Need), rng.randint(1, 3)),
            "languages": rng.sample(LANGUAGES, rng.randint(0, 2)),
            "mobility": rng.choice(list(Mobility)),
            "age": rng.choice([None, 17, 18, 27, 28, 50, 64, 65, 80]),
            "near": {"lat": 51.3, "lon": 3.8} if rng.random() < 0.7 else None,
            "consent_to_refer": True,
        }
    )
    groups = frozenset(rng.sample(list(RiskGroup), rng.randint(0, 2)))
    return Person(municipality=municipality, question=question, risk_groups=groups)


async def ranked_in_sql(referral: RunningReferral, who: Person, limit: int) -> Ranking:
    q = who.question
    async with referral.referrals.service.pool.acquire() as conn:
        found = await repo.candidates(
            conn,
            municipality=who.municipality,
            needs=[n.value for n in q.needs],
            age=q.age,
            risk_groups=[g.value for g in who.risk_groups],
            languages=list(q.languages),
            mobility=q.mobility.value,
            near=(q.near.lat, q.near.lon) if q.near else None,
            exclude=[],
            limit=limit + CUT_MARGIN,
            max_km_with_transport=MAX_KM_WITH_TRANSPORT,
        )
    assert len(found.offers) <= limit + CUT_MARGIN
    return rank(
        who, found.offers, prefiltered=found.ruled_out, limit=limit, coverage=found.coverage
    )


def summary(r: Ranking) -> tuple[object, ...]:
    return (
        [(p.offer.service_id, p.rank, p.reasons) for p in r.proposals],
        {k: v for k, v in r.ruled_out.items() if k != "area"},
        r.gaps,
    )


async def test_the_sql_pre_filter_ranks_as_the_pure_ranking_of_the_whole_map(
    referral: RunningReferral,
) -> None:
    rng = random.Random(1818)
    municipality = "GM9818"  # a map of its own: the module's other tests keep theirs
    offers: list[Offer] = []
    async with referral.referrals.service.transaction() as work:
        for o in range(40):
            org_id = uuid(rng)
            mine = [random_offer(rng, municipality, org_id) for _ in range(10)]
            offers += mine
            await repo.upsert_organisation(
                work.connection,
                MapOrganisation(org_id, f"Organisatie {o}", None, {"id": str(org_id)}, ()),
            )
            await repo.upsert_services(
                work.connection,
                [
                    MapService(
                        offer=m,
                        channel=ReferralChannel.API,
                        email=None,
                        capacity_total=m.open_places,
                        document={"id": str(m.service_id)},
                    )
                    for m in mine
                ],
            )
    # the coordinator closes some and opens others (the counts follow through a trigger)
    async with referral.referrals.service.transaction() as work:
        for i in rng.sample(range(len(offers)), 40):
            status = rng.choice(list(ServiceStatus))
            await repo.set_service_state(
                work.connection,
                offers[i].service_id,
                status=status,
                open_places=None,
                capacity_total=None,
            )
            offers[i] = replace(offers[i], status=status)
    compared = proposed = gaps = 0
    for _ in range(120):
        who = random_person(rng, municipality)
        whole_map = rank(who, offers, limit=5)
        in_sql = await ranked_in_sql(referral, who, 5)
        assert summary(in_sql) == summary(whole_map), who
        compared += 1
        proposed += len(whole_map.proposals)
        gaps += len(whole_map.gaps)
    # the random maps exercised what they should: proposals, gaps, every kind of rule
    assert compared == 120
    assert proposed > 200
    assert gaps > 5
