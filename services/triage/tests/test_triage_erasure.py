"""After a person is erased: no 500s, and the case forgets what it held (issue 17)."""

from __future__ import annotations

from triage_harness import RunningTriage


async def test_a_reason_or_note_for_an_erased_person_is_refused_clearly(
    triage: RunningTriage,
) -> None:
    sent = await triage.send("Woont alleen, ziet niemand")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    await triage.vault.erase(sent.data.subject_id, reason="data_subject_request")
    path = f"/v1/triage/signals/{signal_id}"

    decided = await triage.client.post(
        f"{path}/decisions",
        headers=triage.token(),
        json={"priority": "high", "reason": "Dochter belde opnieuw"},
    )
    assert decided.status_code == 410, decided.text
    assert decided.headers["content-type"] == "application/problem+json"
    assert "erased" in decided.json()["detail"]

    noted = await triage.client.post(
        f"{path}/steps",
        headers=triage.token(roles=("desk",), subject="staff:desk-1"),
        json={"step": "contact_attempt_failed", "note": "Niet thuis"},
    )
    assert noted.status_code == 410, noted.text
    assert noted.headers["content-type"] == "application/problem+json"

    # what needs no personal data still works: a step without a note
    plain = await triage.client.post(
        f"{path}/steps",
        headers=triage.token(roles=("desk",), subject="staff:desk-1"),
        json={"step": "contact_attempt_failed"},
    )
    assert plain.status_code == 200, plain.text
