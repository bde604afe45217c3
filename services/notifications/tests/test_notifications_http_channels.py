"""The SMS gateway and webhook adapters against a real HTTP server: what the receiver answers
decides whether a message is retried, failed for good, or delivered; the connection is kept
open between messages; a redirect is never followed (a redirect is no delivery)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import uuid4

import pytest
from aiohttp import web
from signaalpunt_notifications.channels import HttpClient, MessageBirdSms, Outgoing, WebhookChannel
from signaalpunt_notifications.domain import PermanentSendError, TransientSendError
from signaalpunt_notifications.templates import Rendered


@dataclass
class Receiver:
    url: str
    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver(url="")

    async def answer(request: web.Request) -> web.Response:
        box.requests.append((dict(request.headers), await request.read()))
        if request.transport is not None:
            box.peers.add(request.transport.get_extra_info("peername"))
        if 300 <= box.status < 400:
            return web.Response(status=box.status, headers={"Location": "/elsewhere"})
        return web.Response(status=box.status, text="{}")

    app = web.Application()
    app.router.add_post("/messages", answer)
    app.router.add_post("/hook", answer)
    app.router.add_post("/elsewhere", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    box.url = f"http://127.0.0.1:{port}"
    try:
        yield box
    finally:
        await runner.cleanup()


def _message(
    address: str, secret: str | None = None, payload: dict[str, object] | None = None
) -> Outgoing:
    return Outgoing(
        delivery_id=uuid4(),
        address=address,
        rendered=Rendered(subject="Signaal ontvangen", text="Uw signaal is ontvangen."),
        language="nl",
        secret=secret,
        payload=payload,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_sms_goes_as_json_with_its_key_and_the_connection_is_kept(
    receiver: Receiver,
) -> None:
    http = HttpClient(timeout=5)
    sms = MessageBirdSms(
        http, url=f"{receiver.url}/messages", access_key="test-key", originator="Signaalpunt"
    )
    try:
        first, second = _message("+31612345678"), _message("+31687654321")
        await sms.send(first)
        await sms.send(second)
    finally:
        await http.close()
    (headers, body), _ = receiver.requests
    assert headers["Authorization"] == "AccessKey test-key"
    assert headers["Idempotency-Key"] == str(first.delivery_id)
    assert json.loads(body) == {
        "originator": "Signaalpunt",
        "recipients": ["+31612345678"],
        "body": "Uw signaal is ontvangen.",
        "reference": str(first.delivery_id),
    }
    assert len(receiver.peers) == 1  # both messages over one connection


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, TransientSendError), (429, TransientSendError), (400, PermanentSendError)],
)
async def test_the_gateways_answer_decides_retry_or_failure(
    receiver: Receiver, status: int, outcome: type[Exception]
) -> None:
    receiver.status = status
    http = HttpClient(timeout=5)
    sms = MessageBirdSms(http, url=f"{receiver.url}/messages", access_key="k", originator="S")
    try:
        with pytest.raises(outcome, match=f"SMS gateway answered HTTP {status}"):
            await sms.send(_message("+31612345678"))
    finally:
        await http.close()


async def test_an_unreachable_gateway_is_tried_again_later() -> None:
    http = HttpClient(timeout=5)
    sms = MessageBirdSms(
        http, url=f"http://127.0.0.1:{_closed_port()}/messages", access_key="k", originator="S"
    )
    try:
        with pytest.raises(TransientSendError, match="SMS gateway not reachable"):
            await sms.send(_message("+31612345678"))
    finally:
        await http.close()


async def test_a_webhook_is_signed_and_a_redirect_is_not_followed(receiver: Receiver) -> None:
    http = HttpClient(timeout=5)
    hooks = WebhookChannel(http)
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    try:
        await hooks.send(_message(f"{receiver.url}/hook", secret=secret, payload={"a": 1}))
        receiver.status = 302
        with pytest.raises(TransientSendError, match="webhook endpoint answered HTTP 302"):
            await hooks.send(_message(f"{receiver.url}/hook", secret=secret, payload={"a": 1}))
    finally:
        await http.close()
    assert len(receiver.requests) == 2  # /elsewhere was never asked
    headers, body = receiver.requests[0]
    assert body == b'{"a":1}'
    assert headers["webhook-signature"].startswith("v1,")
