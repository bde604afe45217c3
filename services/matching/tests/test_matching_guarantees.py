"""What the issue promises under load and failure, against the real Kafka and PostgreSQL:
redelivery has no second effect, concurrent proposals never exceed a volunteer's capacity, two
replicas expire each proposal once, 1,000 requests spread within the stated fairness bound, one
warning per expiring VOG, and the four-week follow-up.

Each test speaks its own language code, so tests never pick each other's volunteers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from matching_harness import RunningMatching, volunteer
from signaalpunt_contracts import (
    Envelope,
    MatchRequestedV1,
    MatchStatus,
    MatchUpdatedV1,
    VolunteerVogExpiringV1,
)
from signaalpunt_matching.domain import fairness_bound
from signaalpunt_matching.handlers import (
    expire_due,
    follow_up_due,
    on_match_request,
    warn_vog_expiring,
)
from signaalpunt_matching.main import build
from signaalpunt_testkit.serving import SettableClock, publish, read_events, serving

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(600)]


async def handle(matching: RunningMatching, envelope: Envelope[MatchRequestedV1]) -> None:
    """The consumer's handler in a transaction of its own, as one replica would run it."""
    async with matching.ctx.service.transaction() as work:
        await on_match_request(matching.ctx, envelope, work)


async def test_a_redelivered_request_has_no_second_effect(matching: RunningMatching) -> None:
    await matching.volunteers(volunteer(languages=["rm"], max_matches=5))
    sent = await matching.request(languages=["rm"])
    # the same event again (a redelivery), and the same request with a new event id (a resend)
    await publish(
        matching.infra.kafka_bootstrap, matching.topics.requests, sent, str(sent.data.signal_id)
    )
    resent = Envelope.new(sent.data, municipality="GM0715", producer="referral")
    await publish(
        matching.infra.kafka_bootstrap, matching.topics.requests, resent, str(sent.data.signal_id)
    )
    events = await matching.about(sent.data.signal_id, count=1, settle=4.0)
    assert [e.status for e in events] == [MatchStatus.PROPOSED]


async def test_concurrent_proposals_never_exceed_a_volunteers_capacity(
    matching: RunningMatching, database_url: str
) -> None:
    [only] = await matching.volunteers(volunteer(languages=["sc"], max_matches=2))
    requests = [await matching.request(languages=["sc"], send=False) for _ in range(10)]
    await asyncio.gather(*(handle(matching, r) for r in requests))
    conn = await asyncpg.connect(database_url)
    try:
        load = await conn.fetchval(
            "SELECT load FROM matching.volunteers WHERE volunteer_id = $1", only
        )
        proposals = await conn.fetchval(
            "SELECT count(*) FROM matching.matches WHERE volunteer_id = $1", only
        )
        unmatched = await conn.fetch(
            "SELECT failed_constraint FROM matching.match_requests "
            "WHERE match_request_id = ANY($1::uuid[]) AND status = 'unmatched'",
            [r.data.match_request_id for r in requests],
        )
    finally:
        await conn.close()
    assert (load, proposals) == (2, 2)
    assert len(unmatched) == 8


async def test_two_replicas_expire_each_unanswered_proposal_once(
    matching: RunningMatching,
) -> None:
    asked = await matching.volunteers(
        *(volunteer(languages=["ia"], max_matches=1) for _ in range(6))
    )
    requests = [await matching.request(languages=["ia"], send=False) for _ in range(3)]
    for r in requests:
        await handle(matching, r)
    later = datetime.now(UTC) + timedelta(hours=matching.settings.answer_hours + 1)
    other_clock = SettableClock(later)
    second, app = build(matching.settings, topics=matching.topics, clock=other_clock, watch=False)
    async with serving(app):
        matching.clock.frozen = later
        try:
            # both replicas look at once, one proposal at a time, until nothing is left
            while any(
                await asyncio.gather(expire_due(matching.ctx, batch=1), expire_due(second, batch=1))
            ):
                pass
        finally:
            matching.clock.frozen = None
    ids = {r.data.signal_id for r in requests}
    events = await read_events(
        matching.infra.kafka_bootstrap,
        matching.topics.matches,
        MatchUpdatedV1,
        lambda es: sum(e.data.signal_id in ids for e in es) >= 9,
        settle=2.0,
    )
    mine = [e.data for e in events if e.data.signal_id in ids]
    expired = Counter(e.match_id for e in mine if e.status is MatchStatus.EXPIRED)
    assert len(expired) == 3
    assert set(expired.values()) == {1}
    # each request went on to exactly one next volunteer
    assert Counter(e.signal_id for e in mine if e.status is MatchStatus.PROPOSED) == dict.fromkeys(
        ids, 2
    )
    for signal_id in ids:  # never the same volunteer twice for one request
        theirs = [e.volunteer_id for e in mine if e.signal_id == signal_id]
        assert len(set(theirs)) == 2
        assert set(theirs) <= set(asked)


async def test_a_thousand_requests_spread_within_the_fairness_bound(
    matching: RunningMatching, database_url: str
) -> None:
    postcodes = ["4531 AB", "4532 CD", "4533 EF", "4536 RS", "4541 NP", "4543 JK", "4571 GH"]
    slots = ["mon_morning", "tue_afternoon", "wed_evening", "thu_morning", "sat_afternoon"]
    team = await matching.volunteers(
        *(
            volunteer(
                languages=["eo"],
                postcode=postcodes[i % len(postcodes)],
                max_travel_km=20,
                max_matches=20,
                interests=["chess"] if i % 3 == 0 else ["music"],
                availability=slots[: 1 + i % len(slots)],
            )
            for i in range(60)
        )
    )
    kinds: list[dict[str, Any]] = [
        {"interests": ["chess"], "availability": ["mon_morning", "sat_afternoon"]},
        {"interests": ["music"], "near": {"lat": 51.27, "lon": 3.91}},
        {"availability": ["wed_evening"], "near": {"lat": 51.34, "lon": 3.85}},
    ]
    for n in range(1000):
        await handle(matching, await matching.request(languages=["eo"], send=False, **kinds[n % 3]))
    conn = await asyncpg.connect(database_url)
    try:
        given = await conn.fetch(
            "SELECT v.volunteer_id, count(m.match_id) AS n FROM matching.volunteers v "
            "LEFT JOIN matching.matches m USING (volunteer_id) "
            "WHERE v.volunteer_id = ANY($1::uuid[]) GROUP BY v.volunteer_id",
            team,
        )
    finally:
        await conn.close()
    counts = sorted(row["n"] for row in given)
    assert sum(counts) == 1000  # nobody unmatched: 60 × 20 places
    assert counts[-1] - counts[0] <= fairness_bound(), counts


async def test_an_expiring_vog_is_listed_and_warned_about_once(matching: RunningMatching) -> None:
    soon = (datetime.now(UTC) + timedelta(days=10)).date()
    [vid] = await matching.volunteers(volunteer(languages=["ga"], vog_expires_on=soon.isoformat()))
    counts = await asyncio.gather(warn_vog_expiring(matching.ctx), warn_vog_expiring(matching.ctx))
    assert sum(counts) >= 1
    assert await warn_vog_expiring(matching.ctx) == 0
    events = await read_events(
        matching.infra.kafka_bootstrap,
        matching.topics.vog,
        VolunteerVogExpiringV1,
        lambda es: any(e.data.volunteer_id == vid for e in es),
        settle=2.0,
    )
    assert [e.data.vog_expires_on for e in events if e.data.volunteer_id == vid] == [soon]
    listed = await matching.client.get(
        "/v1/matching/volunteers/vog-expiring", headers=matching.staff()
    )
    assert str(vid) in {row["volunteer_id"] for row in listed.json()}


async def test_four_weeks_after_the_start_the_social_worker_is_asked(
    matching: RunningMatching,
) -> None:
    await matching.volunteers(volunteer(languages=["li"], social_worker="staff:sw-9"))
    sent = await matching.request(languages=["li"])
    [proposed] = await matching.about(sent.data.signal_id)
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    await matching.client.post(f"/v1/matching/answers/{token}", json={"answer": "accept"})
    social_worker = matching.staff("social_worker", subject="staff:sw-9")
    started = await matching.client.post(
        f"/v1/matching/matches/{proposed.match_id}/status",
        json={"status": "active"},
        headers=social_worker,
    )
    assert started.status_code == 200, started.text
    assert await follow_up_due(matching.ctx) == 0
    matching.clock.frozen = datetime.now(UTC) + timedelta(days=29)
    try:
        assert await follow_up_due(matching.ctx) >= 1
    finally:
        matching.clock.frozen = None
    events = await matching.about(sent.data.signal_id, count=4)
    assert events[-1].follow_up_due
    assert events[-1].social_worker == "staff:sw-9"
    answered = await matching.client.post(
        f"/v1/matching/matches/{proposed.match_id}/follow-up",
        json={"real_match": True},
        headers=social_worker,
    )
    assert answered.json()["real_match"] is True
    ended = await matching.client.post(
        f"/v1/matching/matches/{proposed.match_id}/status",
        json={"status": "accepted"},
        headers=social_worker,
    )
    assert ended.status_code == 409
