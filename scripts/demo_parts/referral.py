"""The demo's referral part: a web-form signal goes from the desk's help question to an offer
on the social map, and the receiving organisation accepts it (services/referral).

The desk records the help question as a case step in triage; referral ranks the demo map
(Humanitas, Huis voor Levensvragen, Samen eten, …) and says why; the team confirms the best
proposal; the organisation answers with its own scoped token; the place is taken.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from dev_secrets import AUTH
from rich.console import Console
from rich.table import Table
from signaalpunt_access.dev_tokens import mint

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

HELP_QUESTION = {
    "needs": ["buddy", "social_contact"],
    "text": "Zou graag iemand hebben om wekelijks koffie mee te drinken",
    "languages": ["nl"],
    "mobility": "needs_transport",
    "age": 78,
    "near_lat": 51.33,
    "near_lon": 3.83,
    "consent_to_refer": True,
    # what the volunteer match uses: the first name (sealed; the only personal value the
    # volunteer sees before accepting), interests and when she can meet
    "first_name": "Truus",
    "interests": ["gardening", "cooking"],
    "availability": ["tue_afternoon", "thu_morning"],
    # she agreed that the organisation may call her (her consent to share it)
    "contact": {"name": "Truus", "phone": "0115 700 123"},
}


def _staff(subject: str, municipality: str, role: str) -> dict[str, str]:
    token = mint(AUTH, subject=subject, kind="staff", municipalities=[municipality], roles=[role])
    return {"Authorization": f"Bearer {token}"}


def _organisation(organisation_id: str, municipality: str) -> dict[str, str]:
    token = mint(
        AUTH,
        subject=f"urn:signaalpunt:organisation:{organisation_id}",
        kind="partner",
        municipalities=[municipality],
        roles=["organisation"],
    )
    return {"Authorization": f"Bearer {token}"}


async def _proposals(
    client: httpx.AsyncClient, signal_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = await client.get(f"/v1/referral/signals/{signal_id}", headers=headers)
        if answer.status_code == 200 and answer.json()["referrals"]:
            return dict(answer.json())
        await asyncio.sleep(0.5)
    return {"referrals": [], "ruled_out": {}}


async def scenario(triage_url: str, referral_url: str, signal_id: str) -> dict[str, Any]:
    """Help question → proposals → confirmed → accepted, for one web-form signal."""
    actions: list[tuple[str, int, str]] = []
    async with httpx.AsyncClient(base_url=triage_url, timeout=30) as triage:
        probe = _staff("staff:regisseur-demo", "GM0715", "coordinator")
        case = await triage.get(f"/v1/triage/signals/{signal_id}", headers=probe)
        municipality = "GM0715"
        if case.status_code == 404:
            municipality = "GM0677"
        desk = _staff("staff:loket-demo", municipality, "desk")
        detail = await triage.get(f"/v1/triage/signals/{signal_id}", headers=desk)
        state = detail.json()["case"]["state"] if detail.status_code == 200 else "?"
        path = f"/v1/triage/signals/{signal_id}/steps"
        if state == "triaged":
            called = await triage.post(path, headers=desk, json={"step": "reporter_contacted"})
            actions.append(("the desk calls the person back", called.status_code, "in intake"))
        draft = await triage.get(
            f"/v1/triage/signals/{signal_id}/help-question-draft", headers=desk
        )
        drafted = draft.json() if draft.status_code == 200 else {}
        actions.append(
            (
                "the desk sees a help question drafted from the triage cues",
                draft.status_code,
                f"needs {', '.join(drafted.get('needs', [])) or 'none'}; consent never assumed",
            )
        )
        recorded = await triage.post(
            path,
            headers=desk,
            json={"step": "help_question_recorded", "help_question": HELP_QUESTION},
        )
        actions.append(
            (
                "… asks the person, adjusts it and records it (words sealed)",
                recorded.status_code,
                ", ".join(HELP_QUESTION["needs"]),  # type: ignore[arg-type]
            )
        )
    team = _staff("staff:team-welzijn-demo", municipality, "team")
    async with httpx.AsyncClient(base_url=referral_url, timeout=30) as client:
        body = await _proposals(client, signal_id, team)
        proposals = body["referrals"]
        final = "no proposal"
        if proposals:
            best = proposals[0]
            sent = await client.post(
                f"/v1/referral/referrals/{best['referral_id']}/send", headers=team
            )
            due = sent.json().get("respond_by")
            by = (
                f"{datetime.fromisoformat(due).astimezone(AMSTERDAM):%a %d %b %H:%M}"
                if due
                else "-"
            )
            actions.append(
                (
                    f"team welzijn sends it to {best['service_name']}",
                    sent.status_code,
                    f"answer by {by} (working days)",
                )
            )
            org = _organisation(best["organisation_id"], municipality)
            inbox = await client.get("/v1/referral/inbox", headers=org)
            actions.append(
                (
                    "the organisation opens its inbox (scoped token)",
                    inbox.status_code,
                    f"{len(inbox.json())} open; it sees the needs, the person's words and "
                    "how to reach her (she agreed to share it)",
                )
            )
            accepted = await client.post(
                f"/v1/referral/inbox/{best['referral_id']}",
                headers=org,
                json={"status": "accepted"},
            )
            final = accepted.json().get("status", "?")
            actions.append(("the organisation accepts", accepted.status_code, final))
            again = await client.post(
                f"/v1/referral/inbox/{best['referral_id']}",
                headers=org,
                json={"status": "accepted"},
            )
            actions.append(
                ("… and its system retries the same answer", again.status_code, "no second effect")
            )
            wrong = await client.post(
                f"/v1/referral/inbox/{best['referral_id']}",
                headers=org,
                json={"status": "declined", "decline_reason": "other"},
            )
            actions.append(
                (
                    "it then tries to decline what it accepted",
                    wrong.status_code,
                    wrong.json().get("detail", "")[:60],
                )
            )
        gaps = await client.get("/v1/referral/gaps", headers=team)
    return {
        "signal_id": signal_id,
        "proposals": proposals,
        "ruled_out": body.get("ruled_out", {}),
        "actions": actions,
        "final": final,
        "gaps": gaps.json() if gaps.status_code == 200 else [],
    }


async def _referral_outcome(
    triage: httpx.AsyncClient, signal_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The case's referral outcome as triage shows it, once referrals.v1 brought it (30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = await triage.get(f"/v1/triage/signals/{signal_id}", headers=headers)
        if answer.status_code == 200 and answer.json().get("referral_outcome"):
            return dict(answer.json()["referral_outcome"])
        await asyncio.sleep(0.5)
    return {}


async def close_the_loop(
    triage_url: str,
    referral_url: str,
    matching_url: str,
    referral: dict[str, Any],
    matching: dict[str, Any],
) -> dict[str, Any]:
    """After the first meeting: the social worker records the match active, the organisation
    reports the referral completed, and the team closes the case with that outcome in triage."""
    actions: list[tuple[str, int, str]] = []
    signal_id = referral["signal_id"]
    municipality = matching.get("municipality") or "GM0715"
    if matching.get("final") == "accepted":
        social_worker = _staff(
            matching.get("social_worker") or "staff:welzijn-demo", municipality, "social_worker"
        )
        async with httpx.AsyncClient(base_url=matching_url, timeout=30) as client:
            active = await client.post(
                f"/v1/matching/matches/{matching['match_id']}/status",
                headers=social_worker,
                json={"status": "active"},
            )
        actions.append(
            (
                "the social worker records the first meeting with the volunteer",
                active.status_code,
                active.json().get("status", "?"),
            )
        )
    final = "referral not accepted"
    if referral.get("final") == "accepted":
        best = referral["proposals"][0]
        org = _organisation(best["organisation_id"], municipality)
        async with httpx.AsyncClient(base_url=referral_url, timeout=30) as client:
            for status in ("in_progress", "completed"):
                answer = await client.post(
                    f"/v1/referral/inbox/{best['referral_id']}",
                    headers=org,
                    json={"status": status},
                )
                actions.append((f"the organisation reports {status}", answer.status_code, status))
        # in triage the team works a case with the case workers' role (coordinator or desk)
        team = _staff("staff:team-welzijn-demo", municipality, "desk")
        async with httpx.AsyncClient(base_url=triage_url, timeout=30) as client:
            outcome = await _referral_outcome(client, signal_id, team)
            actions.append(
                (
                    "triage shows the referral's outcome on the case",
                    200 if outcome else 0,
                    f"{outcome.get('status', 'not seen')} → close reason "
                    f"{outcome.get('close_reason', '-')}",
                )
            )
            closed = await client.post(
                f"/v1/triage/signals/{signal_id}/steps",
                headers=team,
                json={"step": "closed", "close_with_referral_outcome": True},
            )
            final = (
                f"case closed: {closed.json().get('close_reason')}"
                if closed.status_code == 200
                else f"case not closed ({closed.status_code})"
            )
            actions.append(("the team closes the case with it", closed.status_code, final))
    return {"actions": actions, "final": final}


def report_closing(result: dict[str, Any], console: Console) -> None:
    table = Table(title="Closing the loop (matching, referral and triage APIs)")
    for column in ("what happened", "HTTP", "answer"):
        table.add_column(column, overflow="fold")
    for title, status, answer in result["actions"]:
        table.add_row(title, str(status), answer)
    console.print(table)
    console.print(result["final"])


def report(result: dict[str, Any], console: Console) -> None:
    case = result["signal_id"][-8:].upper()
    table = Table(title=f"Referral: proposals for case {case} (the social map, HSDS)")
    for column in ("rank", "offer", "status", "why"):
        table.add_column(column, overflow="fold")
    for p in result["proposals"]:
        table.add_row(str(p["rank"]), p["service_name"], p["status"], ", ".join(p["reasons"]))
    console.print(table)
    ruled = ", ".join(f"{k}: {v}" for k, v in sorted(result["ruled_out"].items()))
    console.print(f"ruled out by constraint: {ruled or 'none'}")
    actions = Table(title="The closed loop (triage and referral APIs)")
    for column in ("what happened", "HTTP", "answer"):
        actions.add_column(column, overflow="fold")
    for title, status, answer in result["actions"]:
        actions.add_row(title, str(status), answer)
    console.print(actions)
    console.print(f"referral {result['final']}")
