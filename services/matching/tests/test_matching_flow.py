"""The matching service against the real Kafka and PostgreSQL: the registry with sealed personal
data, a request proposed to the best volunteer with a signed link, answers, declines to the next,
unmatched with the constraint that failed most, and the reports.

Each test speaks its own language code (volunteers and requests), so tests in one module never
pick each other's volunteers."""

from __future__ import annotations

import asyncpg
import pytest
from matching_harness import RunningMatching, volunteer
from signaalpunt_contracts import MatchStatus
from signaalpunt_testkit.access_matrix import assert_refused

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def test_a_request_goes_to_the_best_volunteer_who_answers_through_a_one_time_link(
    matching: RunningMatching,
) -> None:
    near, far = await matching.volunteers(
        volunteer(first_name="Dichtbij", languages=["fy"], interests=["chess"]),
        volunteer(first_name="Verweg", languages=["fy"], postcode="4571 GH", max_travel_km=15),
    )
    sent = await matching.request(languages=["fy"], interests=["chess"], first_name="Mien")
    [proposed] = await matching.about(sent.data.signal_id)
    assert proposed.status is MatchStatus.PROPOSED
    assert proposed.volunteer_id == near
    assert "interests:1" in proposed.reasons
    assert any(r.startswith("distance:") for r in proposed.reasons)
    assert proposed.social_worker == "staff:sw-1"
    assert proposed.volunteer_languages == ("fy",)  # the proposal is written in one of these
    assert proposed.volunteer_contact is not None
    assert proposed.volunteer_contact.startswith("pd1.")
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]

    # the volunteer sees the first name, the district, the need and nothing else
    shown = await matching.client.get(f"/v1/matching/answers/{token}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["first_name"] == "Mien"
    assert body["area"].startswith("Terneuzen")
    assert body["needs"] == ["buddy"]
    assert set(body) == {"first_name", "area", "needs", "availability", "respond_by"}

    accepted = await matching.client.post(
        f"/v1/matching/answers/{token}", json={"answer": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    events = await matching.about(sent.data.signal_id, count=2)
    assert events[-1].status is MatchStatus.ACCEPTED
    assert events[-1].social_worker == "staff:sw-1"  # the social worker is told
    # every change says when the request came in (metrics' "requested → active" duration)
    assert {e.requested_at for e in events} == {sent.data.requested_at}

    # the link works once; a forged one is unknown
    again = await matching.client.post(f"/v1/matching/answers/{token}", json={"answer": "decline"})
    assert again.status_code == 410
    assert again.headers["content-type"] == "application/problem+json"
    assert (await matching.client.get(f"/v1/matching/answers/{token}")).status_code == 410
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert (await matching.client.get(f"/v1/matching/answers/{forged}")).status_code == 404
    assert (
        await matching.client.post(f"/v1/matching/answers/{forged}", json={"answer": "accept"})
    ).status_code == 404
    assert far  # the farther one was not asked
    assert len(await matching.about(sent.data.signal_id, count=2, settle=1.0)) == 2


async def test_declines_go_to_the_next_and_then_nobody_is_left(matching: RunningMatching) -> None:
    first, second, _ = await matching.volunteers(
        volunteer(first_name="Een", languages=["gd"]),
        volunteer(first_name="Twee", languages=["gd"], postcode="4533 EF"),
        volunteer(
            first_name="Zonder VOG",
            languages=["gd"],
            vog_issued_on="2017-01-01",
            vog_expires_on="2020-01-01",
        ),
    )
    sent = await matching.request(languages=["gd"])
    asked: list[str] = []
    for count in (1, 3):
        events = await matching.about(sent.data.signal_id, count=count)
        assert events[-1].status is MatchStatus.PROPOSED
        asked.append(str(events[-1].volunteer_id))
        assert events[-1].answer_url is not None
        token = events[-1].answer_url.rsplit("/", 1)[-1]
        answer = await matching.client.post(
            f"/v1/matching/answers/{token}", json={"answer": "decline"}
        )
        assert answer.status_code == 200, answer.text
    assert set(asked) == {str(first), str(second)}
    events = await matching.about(sent.data.signal_id, count=5)
    assert [e.status for e in events] == [
        MatchStatus.PROPOSED,
        MatchStatus.DECLINED,
        MatchStatus.PROPOSED,
        MatchStatus.DECLINED,
        MatchStatus.UNMATCHED,
    ]
    unmatched = events[-1]
    assert unmatched.ruled_out["already_asked"] == 2
    assert unmatched.ruled_out["vog"] == 1

    report = await matching.client.get(
        "/v1/matching/unmatched", headers=matching.staff("social_worker")
    )
    assert report.status_code == 200
    assert any(
        row["municipality"] == "GM0715" and row["failed_constraint"] == "already_asked"
        for row in report.json()
    )
    detail = await matching.client.get(
        f"/v1/matching/requests/{sent.data.match_request_id}", headers=matching.staff()
    )
    assert detail.json()["status"] == "unmatched"
    assert [m["status"] for m in detail.json()["matches"]] == ["declined", "declined"]


async def test_an_existential_need_only_goes_to_a_trained_volunteer(
    matching: RunningMatching,
) -> None:
    await matching.volunteers(
        volunteer(first_name="Ongetraind", languages=["cy"], skills=["existential_conversation"]),
    )
    sent = await matching.request(languages=["cy"], needs=("existential_conversation",))
    [unmatched] = await matching.about(sent.data.signal_id)
    assert unmatched.status is MatchStatus.UNMATCHED
    # the other tests' volunteers do other things (skill); the only one who could is untrained
    assert unmatched.ruled_out["training"] == 1
    [trained] = await matching.volunteers(
        volunteer(
            first_name="Getraind",
            languages=["cy"],
            skills=["existential_conversation"],
            trained_on="2025-06-01",
        ),
    )
    again = await matching.request(languages=["cy"], needs=("existential_conversation",))
    [proposed] = await matching.about(again.data.signal_id)
    assert proposed.volunteer_id == trained


async def test_personal_data_rests_sealed_and_opens_only_for_the_registry(
    matching: RunningMatching, database_url: str
) -> None:
    [vid] = await matching.volunteers(
        volunteer(first_name="Geheim", last_name="Persoon", phone="0612345678", languages=["kw"])
    )
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM matching.volunteers WHERE volunteer_id = $1", vid)
    finally:
        await conn.close()
    assert row is not None
    for column in ("first_name", "last_name", "email", "phone", "postcode"):
        assert row[column].startswith("pd1."), column
    assert "Geheim" not in str(dict(row))
    assert row["postcode_area"] == "4531"
    page = await matching.client.get(f"/v1/matching/volunteers/{vid}", headers=matching.staff())
    assert page.status_code == 200
    assert page.json()["personal"]["first_name"] == "Geheim"
    other = await matching.client.get(
        f"/v1/matching/volunteers/{vid}", headers=matching.staff(municipality="GM0677")
    )
    assert other.status_code == 404
    listed = await matching.client.get("/v1/matching/volunteers", headers=matching.staff())
    assert "Geheim" not in listed.text


async def test_an_import_reports_refused_rows_and_keeps_the_rest(matching: RunningMatching) -> None:
    answer = await matching.client.post(
        "/v1/matching/volunteers/import",
        json=[
            volunteer(first_name="Goed", languages=["br"], external_id="X1"),
            volunteer(first_name="Onbekend gebied", postcode="9999 ZZ"),
            volunteer(first_name="Hulst", municipality="GM0677", postcode="4561 AB"),
            volunteer(first_name="Verkeerde gemeente", postcode="4561 AB"),
        ],
        headers=matching.staff(),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert len(body["created"]) == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3]
    assert "not in the centroid table" in body["rejected"][0]["reason"]
    assert "not authorised" in body["rejected"][1]["reason"]
    # the same external id again updates, it does not duplicate
    again = await matching.client.post(
        "/v1/matching/volunteers/import",
        json=[volunteer(first_name="Goed", languages=["br"], external_id="X1", max_matches=3)],
        headers=matching.staff(),
    )
    assert again.json()["updated"] == body["created"]


async def test_every_staff_route_refuses_other_callers(matching: RunningMatching) -> None:
    document = (await matching.management.get("/openapi.json")).json()

    def token(kind: str) -> dict[str, str]:
        from signaalpunt_access.dev_tokens import mint

        return {
            "Authorization": "Bearer "
            + mint(
                matching.keys,
                subject=f"{kind}:x",
                kind=kind,
                municipalities=["GM0715"],
                roles=("coordinator", "volunteer_coordinator", "social_worker", "desk"),
            )
        }

    checked = await assert_refused(
        matching.client,
        document,
        token,
        refused_kinds=["partner", "service"],
        skip=["GET /v1/matching/answers/{token}", "POST /v1/matching/answers/{token}"],
    )
    assert checked >= 10
    desk = await matching.client.get("/v1/matching/volunteers", headers=matching.staff("desk"))
    assert desk.status_code == 403
