"""Referral end to end on the real Kafka and PostgreSQL: the map, proposals, the closed loop."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from referral_harness import RunningReferral
from signaalpunt_contracts import (
    FIRST_NAME_FIELD,
    MatchRequestedV1,
    OfferGapV1,
    ReferralStatus,
    ReferralUpdatedV1,
    RiskGroup,
    Route,
)
from signaalpunt_referral.config import DEMO_MAP
from signaalpunt_referral.handlers import escalate_due
from standardwebhooks.webhooks import Webhook


async def import_map(referral: RunningReferral, document: list[dict[str, Any]]) -> dict[str, Any]:
    answer = await referral.client.post(
        "/v1/referral/map/import",
        headers=referral.staff("coordinator", also=("GM0677",)),
        json=document,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def one_service_map(
    name: str, need: str, places: int, *, area: str = "GM0715"
) -> list[dict[str, Any]]:
    org, service = str(uuid4()), str(uuid4())
    return [
        {
            "id": org,
            "name": f"Organisatie {name}",
            "services": [
                {
                    "id": service,
                    "name": name,
                    "status": "active",
                    "email": "aanbod@example.org",
                    "service_areas": [{"id": str(uuid4()), "name": area}],
                    "capacities": [{"id": str(uuid4()), "available": places, "maximum": places}],
                    "attributes": [
                        {
                            "id": str(uuid4()),
                            "taxonomy_term": {"code": need, "vocabulary": "signaalpunt-needs"},
                        },
                        {
                            "id": str(uuid4()),
                            "taxonomy_term": {
                                "code": "api",
                                "vocabulary": "signaalpunt-referral-channel",
                            },
                        },
                    ],
                }
            ],
        }
    ]


async def test_the_demo_map_imports_and_exports_exactly(referral: RunningReferral) -> None:
    demo = json.loads(DEMO_MAP.read_text())
    report = await import_map(referral, demo)
    assert report == {"organisations": 6, "services": 13, "rejected": []}
    exported = await referral.client.get(
        "/v1/referral/map/export", headers=referral.staff("coordinator", also=("GM0677",))
    )
    assert exported.status_code == 200
    by_id = {o["id"]: o for o in exported.json()}
    for organisation in demo:
        mine = by_id[organisation["id"]]
        assert {k: v for k, v in mine.items() if k != "services"} == {
            k: v for k, v in organisation.items() if k != "services"
        }
        assert sorted(mine["services"], key=lambda s: s["id"]) == sorted(
            organisation["services"], key=lambda s: s["id"]
        )


async def test_bad_rows_are_reported_and_the_rest_is_kept(referral: RunningReferral) -> None:
    good = one_service_map("Goed", "buddy", 2)
    bad_area = one_service_map("Fout gebied", "buddy", 2, area="Terneuzen")
    no_need = one_service_map("Geen behoefte", "buddy", 2)
    no_need[0]["services"][0]["attributes"] = []
    other_municipality = one_service_map("Elders", "buddy", 2, area="GM0363")
    report = await import_map(
        referral, [*good, *bad_area, *no_need, *other_municipality, {"name": "zonder id"}]
    )
    assert report["services"] == 1
    reasons = {r["where"]: r["reason"] for r in report["rejected"]}
    assert len(report["rejected"]) == 4
    assert any("gemeentecode" in r for r in reasons.values())
    assert any("signaalpunt-needs" in r for r in reasons.values())
    assert any("not coordinator" in r for r in reasons.values())
    assert any("not a UUID" in r for r in reasons.values())
    desk = await referral.client.post(
        "/v1/referral/map/import", headers=referral.staff("desk"), json=good
    )
    assert desk.status_code == 403


async def test_a_help_question_gets_ranked_proposals_a_match_request_and_gaps(
    referral: RunningReferral,
) -> None:
    await import_map(referral, json.loads(DEMO_MAP.read_text()))
    sent = await referral.help_question(
        needs=("grief_support", "buddy", "carer_relief"),
        text="Mist haar man, wil graag iemand om mee te praten",
        age=78,
        near={"lat": 51.33, "lon": 3.83},
        risk_groups=(RiskGroup.GRIEF_AND_LOSS, RiskGroup.SENIOR_75_PLUS),
    )
    signal_id = sent.data.signal_id
    body = await referral.proposals(signal_id, count=2)
    names = [r["service_name"] for r in body["referrals"]]
    assert names[0] == "Rouw- en verliesgroep Humanitas"  # the first need, aimed at grief
    assert "Maatjesproject Humanitas" in names
    top = body["referrals"][0]
    assert top["status"] == "proposed"
    assert top["rank"] == 1
    assert "need:grief_support" in top["reasons"]
    assert "risk_group:grief_and_loss" in top["reasons"]
    assert body["ruled_out"]["need"] > 0
    assert body["ruled_out"]["target_group"] >= 1  # mantelzorg is for informal carers only

    matches = await referral.about(referral.topics.matches, MatchRequestedV1, signal_id)
    assert [n.value for n in matches[0].needs] == ["buddy"]
    gaps = await referral.about(referral.topics.gaps, OfferGapV1, signal_id)
    assert [(g.need.value, g.reason.value) for g in gaps] == [("carer_relief", "no_eligible_offer")]
    report = await referral.client.get("/v1/referral/gaps", headers=referral.staff())
    assert any(
        row["need"] == "carer_relief" and row["risk_group"] == "grief_and_loss"
        for row in report.json()
    )
    events = await referral.about(referral.topics.referrals, ReferralUpdatedV1, signal_id, count=2)
    assert {e.status for e in events} == {ReferralStatus.PROPOSED}
    assert "praten" not in json.dumps([e.model_dump(mode="json") for e in events])


async def test_the_match_request_carries_what_the_volunteer_match_needs(
    referral: RunningReferral,
) -> None:
    """The first name (sealed), interests, availability and start date recorded with the help
    question reach the matching service: without them it cannot score interests or availability,
    and the volunteer's proposal has no name."""
    subject_first_name = "Truus"
    sent = await referral.help_question(
        needs=("buddy",),
        first_name_plain=subject_first_name,
        interests=("walking", "music"),
        availability=("tue_afternoon", "thu_morning"),
        start_on="2027-01-04",
    )
    (request,) = await referral.about(
        referral.topics.matches, MatchRequestedV1, sent.data.signal_id
    )
    assert request.interests == ("walking", "music")
    assert request.availability == ("tue_afternoon", "thu_morning")
    assert request.start_on is not None
    assert request.start_on.isoformat() == "2027-01-04"
    assert request.first_name is not None
    assert subject_first_name not in request.first_name
    opened = await referral.vault.open(
        request.subject_id, request.first_name, field=FIRST_NAME_FIELD
    )
    assert opened == subject_first_name


async def test_the_closed_loop_with_capacity_decline_and_next(referral: RunningReferral) -> None:
    first = one_service_map("Taalcafé A", "language", 1)
    second = one_service_map("Taalcafé B", "language", 1)
    await import_map(referral, [*first, *second])
    sent = await referral.help_question(needs=("language",), languages=("nl",))
    body = await referral.proposals(sent.data.signal_id, count=2)
    by_name = {r["service_name"]: r for r in body["referrals"]}
    a, b = by_name["Taalcafé A"], by_name["Taalcafé B"]
    team = referral.staff()
    org_a = referral.organisation(a["organisation_id"])
    org_b = referral.organisation(b["organisation_id"])

    # the organisation cannot answer a proposal nobody sent
    early = await referral.client.post(
        f"/v1/referral/inbox/{a['referral_id']}", headers=org_a, json={"status": "accepted"}
    )
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("application/problem+json")
    confirmed = await referral.client.post(
        f"/v1/referral/referrals/{a['referral_id']}/send", headers=team
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "sent"
    assert confirmed.json()["respond_by"] is not None
    # another organisation does not see it
    other = await referral.client.post(
        f"/v1/referral/inbox/{a['referral_id']}", headers=org_b, json={"status": "accepted"}
    )
    assert other.status_code == 404
    inbox = await referral.client.get("/v1/referral/inbox", headers=org_a)
    assert [i["referral_id"] for i in inbox.json()] == [a["referral_id"]]
    declined = await referral.client.post(
        f"/v1/referral/inbox/{a['referral_id']}",
        headers=org_a,
        json={
            "status": "declined",
            "decline_reason": "waiting_list",
            "note": "Wachtlijst tot maart",
        },
    )
    assert declined.status_code == 200
    # the organisation's note is sealed on the event
    # wait for the decline itself: how many proposals came before it depends on the map that the
    # module's earlier tests left behind
    declines = [
        e.data
        for e in await referral.events(
            referral.topics.referrals,
            ReferralUpdatedV1,
            lambda es: any(
                e.data.signal_id == sent.data.signal_id and e.data.status is ReferralStatus.DECLINED
                for e in es
            ),
        )
        if e.data.signal_id == sent.data.signal_id and e.data.status is ReferralStatus.DECLINED
    ]
    decline = declines[0]
    assert decline.note is not None
    assert decline.note.startswith("pd1.")
    assert decline.decline_reason is not None

    await referral.client.post(f"/v1/referral/referrals/{b['referral_id']}/send", headers=team)
    path_b = f"/v1/referral/inbox/{b['referral_id']}"
    accepted = await referral.client.post(path_b, headers=org_b, json={"status": "accepted"})
    assert accepted.json() | {"version": 0} == {
        "referral_id": b["referral_id"],
        "status": "accepted",
        "version": 0,
        "changed": True,
    }
    again = await referral.client.post(path_b, headers=org_b, json={"status": "accepted"})
    assert again.status_code == 200
    assert again.json()["changed"] is False  # a retry has no second effect
    services = await referral.client.get(
        "/v1/referral/map/services?need=language", headers=referral.staff("coordinator")
    )
    places = {s["name"]: s["open_places"] for s in services.json()}
    assert places["Taalcafé B"] == 0
    illegal = await referral.client.post(
        path_b, headers=org_b, json={"status": "declined", "decline_reason": "other"}
    )
    assert illegal.status_code == 409
    for status in ("in_progress", "completed"):
        step = await referral.client.post(path_b, headers=org_b, json={"status": status})
        assert step.status_code == 200, step.text
    services = await referral.client.get(
        "/v1/referral/map/services?need=language", headers=referral.staff("coordinator")
    )
    assert {s["name"]: s["open_places"] for s in services.json()}["Taalcafé B"] == 1  # given back
    after = await referral.client.post(path_b, headers=org_b, json={"status": "in_progress"})
    assert after.status_code == 409  # completed is the end

    statuses = [
        e.status.value
        for e in await referral.about(
            referral.topics.referrals, ReferralUpdatedV1, sent.data.signal_id, count=8, settle=1.0
        )
        if e.service_name == "Taalcafé B"
    ]
    assert statuses == ["proposed", "sent", "accepted", "in_progress", "completed"]
    evaluation = await referral.client.get("/v1/referral/evaluation", headers=team)
    rows = {r["name"]: r for r in evaluation.json()}
    assert (rows["Taalcafé B"]["received"], rows["Taalcafé B"]["completed"]) == (1, 1)
    assert rows["Taalcafé A"]["declined"] == 1
    assert rows["Taalcafé A"]["decline_reasons"] == {"waiting_list": 1}


async def test_fifty_concurrent_accepts_on_ten_places_never_overbook(
    referral: RunningReferral,
) -> None:
    document = one_service_map("Schuldhulp met tien plaatsen", "debt_money", 10)
    document[0]["services"][0]["service_areas"] = [{"id": str(uuid4()), "name": "GM0716"}]
    coordinator = referral.staff("coordinator", municipality="GM0716")
    answer = await referral.client.post(
        "/v1/referral/map/import", headers=coordinator, json=document
    )
    assert answer.json()["services"] == 1
    auto = await referral.client.put(
        "/v1/referral/routes/GM0716/team_welzijn",
        headers=coordinator,
        json={"auto_refer": True, "response_days": 2},
    )
    assert auto.status_code == 200
    signals: list[UUID] = []
    for _ in range(50):
        sent = await referral.help_question(needs=("debt_money",), municipality="GM0716")
        signals.append(sent.data.signal_id)
    referral_ids: list[str] = []
    for signal_id in signals:
        body = await referral.proposals(signal_id, municipality="GM0716")
        assert body["referrals"][0]["status"] == "sent"  # automatic referral for the route
        referral_ids.append(body["referrals"][0]["referral_id"])
    org = referral.organisation(document[0]["id"])
    answers = await asyncio.gather(
        *(
            referral.client.post(
                f"/v1/referral/inbox/{rid}", headers=org, json={"status": "accepted"}
            )
            for rid in referral_ids
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 10
    assert codes.count(409) == 40
    assert all("no open place" in a.json()["detail"] for a in answers if a.status_code == 409)
    services = await referral.client.get("/v1/referral/map/services", headers=coordinator)
    assert services.json()[0]["open_places"] == 0


async def test_a_redelivered_or_replayed_help_question_has_no_second_effect(
    referral: RunningReferral,
) -> None:
    await import_map(referral, one_service_map("Digicafé Z", "digital_skills", 3))
    sent = await referral.help_question(needs=("digital_skills",))
    first = await referral.proposals(sent.data.signal_id)
    proposed = len(first["referrals"])
    # the same event again (redelivery), and the same step under a new event id (a replay)
    await referral.publish(referral.topics.steps, sent, str(sent.data.signal_id))
    replay = sent.model_copy(update={"event_id": uuid4()})
    await referral.publish(referral.topics.steps, replay, str(sent.data.signal_id))
    events = await referral.about(
        referral.topics.referrals, ReferralUpdatedV1, sent.data.signal_id, settle=3.0
    )
    assert len(events) == proposed
    body = await referral.proposals(sent.data.signal_id)
    assert len(body["referrals"]) == proposed


async def test_no_consent_no_referral(referral: RunningReferral) -> None:
    await import_map(referral, one_service_map("Koffie-ochtend", "daytime_activity", 3))
    sent = await referral.help_question(needs=("daytime_activity",), consent=False)
    body = await referral.proposals(sent.data.signal_id)
    refused = await referral.client.post(
        f"/v1/referral/referrals/{body['referrals'][0]['referral_id']}/send",
        headers=referral.staff(),
    )
    assert refused.status_code == 409
    assert "consent" in refused.json()["detail"]
    elsewhere = await referral.client.get(
        f"/v1/referral/signals/{sent.data.signal_id}", headers=referral.staff(municipality="GM0363")
    )
    assert elsewhere.status_code == 404
    assert Route.TEAM_WELZIJN  # the route the question came in on


async def test_a_signed_callback_answers_once_and_a_forged_one_is_refused(
    referral: RunningReferral,
) -> None:
    document = one_service_map("Huis voor Levensvragen test", "existential_conversation", 2)
    await import_map(referral, document)
    organisation_id = document[0]["id"]
    hook = await referral.client.put(
        f"/v1/referral/map/organisations/{organisation_id}/webhook",
        headers=referral.staff("coordinator"),
        json={"url": "https://levensvragen.example/hook"},
    )
    assert hook.status_code == 200
    secret = hook.json()["secret"]
    sent = await referral.help_question(needs=("existential_conversation",))
    body = await referral.proposals(sent.data.signal_id)
    mine = next(r for r in body["referrals"] if r["organisation_id"] == organisation_id)
    await referral.client.post(
        f"/v1/referral/referrals/{mine['referral_id']}/send", headers=referral.staff()
    )
    payload = json.dumps({"referral_id": mine["referral_id"], "status": "accepted"})
    now = datetime.now(UTC)

    def signed(msg_id: str, key: str = secret) -> dict[str, str]:
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(key).sign(msg_id, now, payload),
            "content-type": "application/json",
        }

    path = f"/v1/referral/callbacks/{organisation_id}"
    forged = await referral.client.post(
        path, content=payload, headers=signed("msg_1", "whsec_" + "A" * 44)
    )
    assert forged.status_code == 401
    first = await referral.client.post(path, content=payload, headers=signed("msg_1"))
    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    again = await referral.client.post(path, content=payload, headers=signed("msg_1"))
    assert again.json()["changed"] is False  # the webhook's redelivery: no second effect
    events = await referral.about(
        referral.topics.referrals,
        ReferralUpdatedV1,
        sent.data.signal_id,
        settle=2.0,
        count=len(body["referrals"]) + 2,
    )
    accepted = [e for e in events if e.status is ReferralStatus.ACCEPTED]
    assert len(accepted) == 1
    assert accepted[0].changed_by == f"organisation:{organisation_id}"


async def test_an_unanswered_referral_escalates_after_its_working_days(
    referral: RunningReferral,
) -> None:
    await import_map(referral, one_service_map("Mantelzorgcafé test", "carer_relief", 2))
    sent = await referral.help_question(needs=("carer_relief",))
    body = await referral.proposals(sent.data.signal_id)
    rid = body["referrals"][0]["referral_id"]
    confirmed = await referral.client.post(
        f"/v1/referral/referrals/{rid}/send", headers=referral.staff()
    )
    due = datetime.fromisoformat(confirmed.json()["respond_by"])
    referral.clock.frozen = due - timedelta(minutes=1)
    try:
        # other tests' referrals fall due earlier: they escalate now, this one does not yet
        while await escalate_due(referral.referrals):
            pass
        before = await referral.proposals(sent.data.signal_id)
        assert before["referrals"][0]["escalated"] is False
        referral.clock.frozen = due + timedelta(minutes=1)
        assert await escalate_due(referral.referrals) >= 1
        assert await escalate_due(referral.referrals) == 0  # once
    finally:
        referral.clock.frozen = None
    events = await referral.about(
        referral.topics.referrals, ReferralUpdatedV1, sent.data.signal_id, count=3
    )
    escalated = [e for e in events if e.escalated]
    assert len(escalated) == 1
    assert escalated[0].status is ReferralStatus.SENT
    view = await referral.proposals(sent.data.signal_id)
    assert view["referrals"][0]["escalated"] is True
