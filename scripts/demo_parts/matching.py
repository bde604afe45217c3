"""The demo's matching part: the help question's buddy need reaches the matching service as a
match request (from referral), the best demo volunteer is asked with a signed one-time link, sees
only what they need and accepts; the coupled social worker is on the accepted event
(services/matching); the referral service follows the match's outcome (its match request moves
to accepted) and notifications mails the link to the volunteer and the acceptance to the social
worker (shown with the other messages).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from dev_secrets import AUTH
from rich.console import Console
from rich.table import Table
from signaalpunt_access.dev_tokens import mint
from signaalpunt_contracts import MATCHES, Envelope, MatchStatus, MatchUpdatedV1
from signaalpunt_runtime.broker_factory import make_reader


def _coordinator(municipality: str) -> dict[str, str]:
    token = mint(
        AUTH,
        subject="staff:vrijwilligers-demo",
        kind="staff",
        municipalities=[municipality],
        roles=["volunteer_coordinator"],
    )
    return {"Authorization": f"Bearer {token}"}


async def _events(bootstrap: str, signal_id: str, count: int, seconds: float = 90) -> list[Any]:
    reader = make_reader(bootstrap)
    await reader.start()
    found: list[Envelope[MatchUpdatedV1]] = []
    try:
        reader.subscribe([MATCHES.name])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(found) < count:
            for records in (await reader.getmany(timeout_ms=500)).values():
                for r in records:
                    event = Envelope[MatchUpdatedV1].model_validate_json(r.value or b"")
                    if str(event.data.signal_id) == signal_id:
                        found.append(event)
        return found
    finally:
        await reader.stop()


async def _followed_by_referral(
    referral_url: str, signal_id: str, municipality: str, want: str
) -> dict[str, Any]:
    """The signal's match request as the team sees it in the referral service, once it is
    `want` (or what it is after 30 s)."""
    token = mint(
        AUTH, subject="staff:team-demo", kind="staff", municipalities=[municipality], roles=["team"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=referral_url, timeout=30) as client:
        for _ in range(60):
            answer = await client.get(f"/v1/referral/signals/{signal_id}", headers=headers)
            requests = answer.json().get("match_requests", []) if answer.status_code == 200 else []
            seen = requests[0] if requests else {}
            if seen.get("status") == want:
                break
            await asyncio.sleep(0.5)
    return seen


async def scenario(
    matching_url: str, bootstrap: str, signal_id: str, referral_url: str | None = None
) -> dict[str, Any]:
    actions: list[tuple[str, str, str]] = []
    events = await _events(bootstrap, signal_id, 1)
    if not events:
        return {"final": "no match request arrived", "actions": actions, "reasons": []}
    first = events[0]
    municipality = first.municipality
    proposed = first.data
    if proposed.status is not MatchStatus.PROPOSED or proposed.answer_url is None:
        return {
            "final": proposed.status.value,
            "actions": [("the request found nobody", "-", str(proposed.failed_constraint))],
            "reasons": [],
        }
    actions.append(
        (
            f"the best volunteer is asked (attempt {proposed.attempt})",
            "proposed",
            f"score {proposed.score}",
        )
    )
    token = proposed.answer_url.rsplit("/", 1)[-1]
    async with httpx.AsyncClient(base_url=matching_url, timeout=30) as client:
        shown = await client.get(f"/v1/matching/answers/{token}")
        seen = shown.json() if shown.status_code == 200 else {}
        actions.append(
            (
                "the volunteer opens the signed link",
                str(shown.status_code),
                f"sees: {', '.join(sorted(seen))} (first name {seen.get('first_name')}, "
                f"area {seen.get('area')})",
            )
        )
        accepted = await client.post(f"/v1/matching/answers/{token}", json={"answer": "accept"})
        final = accepted.json().get("status", "?")
        actions.append(("the volunteer accepts", str(accepted.status_code), final))
        again = await client.post(f"/v1/matching/answers/{token}", json={"answer": "decline"})
        actions.append(("… and tries the link again", str(again.status_code), "used: refused"))
        headers = _coordinator(municipality)
        vog = await client.get("/v1/matching/volunteers/vog-expiring", headers=headers)
        unmatched = await client.get("/v1/matching/unmatched", headers=headers)
    done = await _events(bootstrap, signal_id, 2, seconds=30)
    if len(done) > 1:
        actions.append(
            (
                "the coupled social worker is informed",
                done[-1].data.status.value,
                str(done[-1].data.social_worker),
            )
        )
    if referral_url is not None:
        followed = await _followed_by_referral(referral_url, signal_id, municipality, final)
        actions.append(
            (
                "the referral service follows the match (its match request)",
                str(followed.get("status", "not seen")),
                f"attempt {followed.get('attempt')}, social worker {followed.get('social_worker')}",
            )
        )
    return {
        "final": final,
        "match_id": str(proposed.match_id),
        "social_worker": done[-1].data.social_worker if len(done) > 1 else None,
        "municipality": municipality,
        "actions": actions,
        "reasons": list(proposed.reasons),
        "vog_expiring": len(vog.json()) if vog.status_code == 200 else 0,
        "unmatched": unmatched.json() if unmatched.status_code == 200 else [],
    }


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(title="Matching: a volunteer for the buddy need (services/matching)")
    for column in ("what", "answer", "detail"):
        table.add_column(column, overflow="fold")
    for action in result["actions"]:
        table.add_row(*action)
    console.print(table)
    console.print(f"  why this volunteer: {', '.join(result['reasons'])}")
    console.print(
        f"  VOG expiring within 30 days: {result.get('vog_expiring', 0)} volunteer(s); "
        f"unmatched requests: {sum(r['requests'] for r in result.get('unmatched', []))}"
    )
