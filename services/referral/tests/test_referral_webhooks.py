"""Referrals to organisations whose channel is `webhook`: signed with the organisation's own
secret (Standard Webhooks), tried again after a refusal with the same webhook-id, given up after
the last attempt, and one organisation's slow endpoint never holds up another's. The receivers
are real HTTP servers. (The module's other tests may leave deliveries of their own: the
assertions look at these referrals' rows and receivers only.)"""

from __future__ import annotations

import asyncio
import copy
from typing import Any
from uuid import UUID, uuid4

from referral_harness import RunningReferral
from signaalpunt_referral import repository as repo
from signaalpunt_referral.webhooks import WebhookSender
from signaalpunt_testkit.serving import serving
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from test_referral_flow import import_map, one_service_map


class Receiver:
    """An organisation's endpoint: answers with the next status of `answers` (the last one
    from then on), after `delay` seconds, and keeps every request it got."""

    def __init__(self, *answers: int, delay: float = 0.0) -> None:
        self.answers, self.delay = list(answers), delay
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.got.append((dict(request.headers), await request.body()))
        await asyncio.sleep(self.delay)
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(status_code=status)


def webhook_map(name: str, need: str) -> list[dict[str, Any]]:
    document = copy.deepcopy(one_service_map(name, need, 3))
    for attribute in document[0]["services"][0]["attributes"]:
        if attribute["taxonomy_term"]["vocabulary"] == "signaalpunt-referral-channel":
            attribute["taxonomy_term"]["code"] = "webhook"
    return document


async def referred_by_webhook(
    referral: RunningReferral, base_url: str, need: str, text: str, **question: Any
) -> tuple[str, str, str]:
    """A map with one webhook organisation, its hook set, a help question for it and the
    team's send: (organisation id, its secret, the referral id)."""
    document = webhook_map(f"Webhook-aanbod {uuid4().hex[:6]}", need)
    await import_map(referral, document)
    organisation_id = document[0]["id"]
    hook = await referral.client.put(
        f"/v1/referral/map/organisations/{organisation_id}/webhook",
        headers=referral.staff("coordinator"),
        json={"url": f"{base_url}/hook"},
    )
    assert hook.status_code == 200, hook.text
    sent = await referral.help_question(
        needs=(need,), text=text, languages=["nl"], age=81, **question
    )
    body = await referral.proposals(sent.data.signal_id)
    mine = next(r for r in body["referrals"] if r["organisation_id"] == organisation_id)
    answer = await referral.client.post(
        f"/v1/referral/referrals/{mine['referral_id']}/send", headers=referral.staff()
    )
    assert answer.status_code == 200, answer.text
    return organisation_id, hook.json()["secret"], mine["referral_id"]


async def deliveries(referral: RunningReferral, referral_id: str) -> list[dict[str, Any]]:
    async with referral.referrals.service.pool.acquire() as conn:
        return await repo.webhook_state(conn, UUID(referral_id))


async def test_a_sent_referral_goes_out_signed_and_is_retried_after_a_refusal(
    referral: RunningReferral,
) -> None:
    receiver = Receiver(503, 200)
    sender = WebhookSender(referral.referrals, retry_base=0.05, timeout=5.0)
    await sender.open()
    try:
        async with serving(receiver.app) as base_url:
            organisation_id, secret, referral_id = await referred_by_webhook(
                referral, base_url, "grief_support", "Mijn man is vorig jaar overleden."
            )
            assert await sender.deliver_due() >= 1
            [first] = await deliveries(referral, referral_id)
            assert first["attempts"] == 1
            assert first["delivered_at"] is None
            assert first["last_error"] == "HTTP 503"
            await asyncio.sleep(0.1)  # past the first pause
            assert await sender.deliver_due() >= 1
            [done] = await deliveries(referral, referral_id)
            assert done["attempts"] == 2
            assert done["delivered_at"] is not None
            await sender.deliver_due()  # delivered: never again (the receiver got two, below)
    finally:
        await sender.stop()
    assert len(receiver.got) == 2
    (h1, b1), (h2, _) = receiver.got
    assert h1["webhook-id"] == h2["webhook-id"]  # a retry is the same message
    for headers, raw in receiver.got:
        payload = Webhook(secret).verify(raw, headers)  # signed with this organisation's secret
        assert payload["type"] == "referral.sent"
        data = payload["data"]
        assert data["referral_id"] == referral_id
        assert data["needs"] == ["grief_support"]
        assert data["question"] == "Mijn man is vorig jaar overleden."  # consented
        assert data["contact"] is None  # she did not agree to share how to reach her
        assert data["age"] == 81
        assert data["answer_at"] == f"/v1/referral/callbacks/{organisation_id}"
    assert b"signal_id" not in b1  # the organisation gets the referral, not the case
    # each body that left with her words is in the access log, as read by the organisation
    async with referral.referrals.service.pool.acquire() as conn:
        logged = await conn.fetch(
            "SELECT l.actor, l.actor_kind, l.operation, l.categories, l.outcome"
            " FROM access_log l JOIN referrals r USING (signal_id)"
            " WHERE r.referral_id = $1 AND l.activity = 'referral.webhook' ORDER BY l.entry_id",
            UUID(referral_id),
        )
    assert [tuple(r.values()) for r in logged] == [
        (
            f"urn:signaalpunt:organisation:{organisation_id}",
            "partner",
            "read",
            ["case", "concern"],
            "ok",
        )
    ] * 2


async def test_a_slow_endpoint_holds_up_no_other_and_a_dead_one_is_given_up(
    referral: RunningReferral,
) -> None:
    slow, fine = Receiver(200, delay=3.0), Receiver(200)
    sender = WebhookSender(referral.referrals, retry_base=0.05, timeout=0.5, max_attempts=2)
    await sender.open()
    try:
        async with serving(slow.app) as slow_url, serving(fine.app) as fine_url:
            _, _, slow_id = await referred_by_webhook(referral, slow_url, "carer_relief", "")
            _, fine_secret, fine_id = await referred_by_webhook(
                referral,
                fine_url,
                "carer_relief",
                "",
                contact_plain={"email": "truus@example.org"},  # she agreed to share it
            )
            assert await sender.deliver_due() >= 1
            [fine_state] = await deliveries(referral, fine_id)
            assert fine_state["delivered_at"] is not None
            [slow_state] = await deliveries(referral, slow_id)
            assert slow_state["delivered_at"] is None
            assert slow_state["last_error"] == "ReadTimeout"
            await asyncio.sleep(0.1)
            await sender.deliver_due()  # only the slow one is tried again (the fine one got one)
            [given_up] = await deliveries(referral, slow_id)
            assert given_up["failed_at"] is not None
            assert given_up["attempts"] == 2
            await sender.deliver_due()
            assert len(slow.got) == 2  # given up: not tried a third time
    finally:
        await sender.stop()
    assert len(fine.got) == 1
    (headers, raw) = fine.got[0]
    told = Webhook(fine_secret).verify(raw, headers)["data"]
    assert told["contact"] == {"email": "truus@example.org"}
