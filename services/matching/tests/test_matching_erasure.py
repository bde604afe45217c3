"""Erasure reaches matching (issue 17), on the real Kafka and PostgreSQL.

A person erased (`signals.erased.v1`): their match requests and matches go, the volunteer who had
them hears the match was withdrawn (ids only) and gets the place back, the answer link stops
working, an unmatched request stays in the report linked to nobody, a late request stays out.
A volunteer erased on their own request: their key is shredded, their open proposal goes to the
next volunteer, their accepted match ends, their row keeps nothing that names them; logged.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from matching_harness import RunningMatching, volunteer
from signaalpunt_contracts import (
    Envelope,
    ErasureReason,
    ErasureScope,
    MatchEndReason,
    MatchStatus,
    SignalErasedV1,
)
from signaalpunt_privacy import SubjectErasedError
from signaalpunt_testkit.serving import publish
from signaalpunt_testkit.tombstones import expire_as_intake_does

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def _erase_person(matching: RunningMatching, signal_id: UUID, subject_id: UUID) -> None:
    """What intake does: the key first, then the event."""
    await matching.vault.erase(subject_id, reason="data_subject_request")
    erased = SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=ErasureScope.PERSON,
        subject_id=subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )
    envelope = Envelope.new(erased, municipality="GM0715", producer="intake")
    await publish(matching.infra.kafka_bootstrap, matching.topics.erased, envelope, str(signal_id))


async def _fetch(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _rows_of(database_url: str, signal_id: UUID) -> int:
    rows = await _fetch(
        database_url,
        "SELECT (SELECT count(*) FROM matching.match_requests WHERE signal_id = $1)"
        " + (SELECT count(*) FROM matching.matches m JOIN matching.match_requests q"
        "    USING (match_request_id) WHERE q.signal_id = $1) AS n",
        signal_id,
    )
    return int(rows[0]["n"])


async def _gone(database_url: str, signal_id: UUID) -> None:
    for _ in range(300):
        if await _rows_of(database_url, signal_id) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"matching still holds rows of erased signal {signal_id}")


async def _load(matching: RunningMatching, volunteer_id: UUID) -> int:
    page = await matching.client.get(
        f"/v1/matching/volunteers/{volunteer_id}", headers=matching.staff()
    )
    assert page.status_code == 200, page.text
    return int(page.json()["load"])


async def test_an_erased_persons_matches_go_and_the_volunteer_gets_the_place_back(
    matching: RunningMatching, database_url: str
) -> None:
    [kept_for] = await matching.volunteers(volunteer(first_name="Blijft", languages=["sm"]))
    sent = await matching.request(languages=["sm"], first_name="Wisbaar")
    signal_id, subject_id = sent.data.signal_id, sent.data.subject_id
    [proposed] = await matching.about(signal_id)
    assert proposed.volunteer_id == kept_for
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    accepted = await matching.client.post(
        f"/v1/matching/answers/{token}", json={"answer": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    # the same person's second request found nobody (nobody trained): the unmatched report
    await matching.request(
        needs=("existential_conversation",),
        languages=["sm"],
        first_name=None,
        signal_id=signal_id,
        subject_id=subject_id,
    )
    await matching.about(signal_id, count=3)
    # another person's request, proposed to the same volunteer, is not touched
    other = await matching.request(languages=["sm"], first_name="Ander")
    [other_proposal] = await matching.about(other.data.signal_id)
    assert await _load(matching, kept_for) == 2
    report = await matching.client.get("/v1/matching/unmatched", headers=matching.staff())
    assert await _rows_of(database_url, signal_id) == 3  # two requests, one match

    await _erase_person(matching, signal_id, subject_id)
    await _gone(database_url, signal_id)

    # the volunteer hears it was withdrawn, with ids only, and has the place back
    events = await matching.about(signal_id, count=4)
    withdrawn = [e for e in events if e.changed_by == "erasure"]
    assert [(e.status, e.previous_status, e.end_reason) for e in withdrawn] == [
        (MatchStatus.ENDED, MatchStatus.ACCEPTED, MatchEndReason.WITHDRAWN)
    ]
    assert withdrawn[0].needs == ()
    assert withdrawn[0].reasons == ()
    assert withdrawn[0].answer_url is None
    assert await _load(matching, kept_for) == 1
    # the request and its matches are gone for staff too
    request_page = await matching.client.get(
        f"/v1/matching/requests/{sent.data.match_request_id}",
        headers=matching.staff("coordinator"),
    )
    assert request_page.status_code == 404
    # the unmatched report counts the same, linked to nobody
    after = await matching.client.get("/v1/matching/unmatched", headers=matching.staff())
    assert after.json() == report.json()
    leftover = await _fetch(
        database_url,
        "SELECT * FROM matching.match_requests WHERE subject_id = $1 OR signal_id = $2",
        subject_id,
        signal_id,
    )
    assert leftover == []
    # the other person's proposal still stands
    assert other_proposal.answer_url is not None
    other_token = other_proposal.answer_url.rsplit("/", 1)[-1]
    shown = await matching.client.get(f"/v1/matching/answers/{other_token}")
    assert shown.status_code == 200
    assert shown.json()["first_name"] == "Ander"

    # a late redelivery of the erased person's request brings nothing back
    await publish(matching.infra.kafka_bootstrap, matching.topics.requests, sent, str(signal_id))
    probe = await matching.request(languages=["sm"], first_name=None)
    await matching.about(probe.data.signal_id)  # the consumer got past the late one
    assert await _rows_of(database_url, signal_id) == 0


async def test_an_open_proposal_to_an_erased_person_stops_working(
    matching: RunningMatching, database_url: str
) -> None:
    [asked] = await matching.volunteers(volunteer(first_name="Gevraagd", languages=["to"]))
    sent = await matching.request(languages=["to"], first_name="Verdwijnt")
    [proposed] = await matching.about(sent.data.signal_id)
    assert proposed.answer_url is not None
    token = proposed.answer_url.rsplit("/", 1)[-1]
    assert (await matching.client.get(f"/v1/matching/answers/{token}")).status_code == 200
    assert await _load(matching, asked) == 1

    await _erase_person(matching, sent.data.signal_id, sent.data.subject_id)
    await _gone(database_url, sent.data.signal_id)

    assert (await matching.client.get(f"/v1/matching/answers/{token}")).status_code == 404
    answered = await matching.client.post(
        f"/v1/matching/answers/{token}", json={"answer": "accept"}
    )
    assert answered.status_code == 404
    assert await _load(matching, asked) == 0
    events = await matching.about(sent.data.signal_id, count=2)
    assert [(e.status, e.previous_status, e.changed_by) for e in events][-1] == (
        MatchStatus.ENDED,
        MatchStatus.PROPOSED,
        "erasure",
    )


async def test_a_volunteer_is_erased_on_request(
    matching: RunningMatching, database_url: str
) -> None:
    tag = uuid4().hex[:8]
    [leaving] = await matching.volunteers(
        volunteer(
            first_name=f"Vertrekt{tag}",
            last_name=f"Achternaam{tag}",
            email=f"vertrekt{tag}@vrijwilligers.example",
            phone="0612345678",
            languages=["ty"],
            interests=["chess"],
            external_id=f"ext-{tag}",
        )
    )
    first = await matching.request(languages=["ty"], first_name="Een")
    [p1] = await matching.about(first.data.signal_id)
    assert p1.volunteer_id == leaving
    assert p1.answer_url is not None
    assert p1.volunteer_contact is not None
    accepted = await matching.client.post(
        f"/v1/matching/answers/{p1.answer_url.rsplit('/', 1)[-1]}", json={"answer": "accept"}
    )
    assert accepted.status_code == 200
    second = await matching.request(languages=["ty"], first_name="Twee")
    [p2] = await matching.about(second.data.signal_id)
    assert p2.volunteer_id == leaving
    [next_one] = await matching.volunteers(volunteer(first_name="Volgende", languages=["ty"]))

    url = f"/v1/matching/volunteers/{leaving}/erasure"
    body = {"reason": "data_subject_request"}
    elsewhere = matching.staff("coordinator", municipality="GM0677")
    assert (await matching.client.post(url, json=body, headers=elsewhere)).status_code == 404
    social_worker = matching.staff("social_worker")
    assert (await matching.client.post(url, json=body, headers=social_worker)).status_code == 403
    free_text = {"reason": "Vertrekt wil weg"}
    refused = await matching.client.post(url, json=free_text, headers=matching.staff())
    assert refused.status_code == 422

    erased = await matching.client.post(
        url, json=body, headers=matching.staff("coordinator", subject="staff:coord-wist")
    )
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"volunteer_id": str(leaving), "matches_ended": 2}

    # the accepted match ended, the proposal went to the next volunteer
    one = await matching.about(first.data.signal_id, count=3)
    assert (one[-1].status, one[-1].end_reason, one[-1].changed_by) == (
        MatchStatus.ENDED,
        MatchEndReason.VOLUNTEER_STOPPED,
        "erasure",
    )
    two = await matching.about(second.data.signal_id, count=3)
    assert [(e.status, e.volunteer_id) for e in two[1:]] == [
        (MatchStatus.DECLINED, leaving),
        (MatchStatus.PROPOSED, next_one),
    ]
    # what was sealed for the volunteer (the e-mail in the proposal event) no longer opens
    with pytest.raises(SubjectErasedError):
        await matching.vault.open(leaving, p1.volunteer_contact, field="volunteer.email")
    page = await matching.client.get(f"/v1/matching/volunteers/{leaving}", headers=matching.staff())
    assert page.status_code == 200
    view = page.json()
    assert view["status"] == "left"
    assert set(view["personal"].values()) == {None}
    assert view["external_id"] is None
    [row] = await _fetch(
        database_url, "SELECT * FROM matching.volunteers WHERE volunteer_id = $1", leaving
    )
    assert tag not in json.dumps(row, default=str)
    assert row["interests"] == []
    assert row["erased_at"] is not None
    log = await _fetch(
        database_url,
        "SELECT activity, actor, operation, purpose FROM matching.access_log"
        " WHERE subject_id = $1 AND activity = 'matching.volunteer_erasure'",
        leaving,
    )
    assert log == [
        {
            "activity": "matching.volunteer_erasure",
            "actor": "staff:coord-wist",
            "operation": "erase",
            "purpose": "erasure",
        }
    ]
    # asking again is harmless, and they are never asked again
    again = await matching.client.post(url, json=body, headers=matching.staff("coordinator"))
    assert again.json() == {"volunteer_id": str(leaving), "matches_ended": 0}
    third = await matching.request(languages=["ty"], first_name=None)
    [p3] = await matching.about(third.data.signal_id)
    assert p3.volunteer_id == next_one


async def test_tombstones_of_erased_signals_go_after_730_days(
    matching: RunningMatching, database_url: str
) -> None:
    await expire_as_intake_does(database_url, "matching")
