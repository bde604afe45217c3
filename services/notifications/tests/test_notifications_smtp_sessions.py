"""The e-mail channel keeps its SMTP sessions open from message to message (issue 22): a session
per message cost a TCP handshake, EHLO (and STARTTLS and AUTH at a real relay) every time, on the
path every coordinator's and team's mail takes. Against a real SMTP server (aiosmtpd): every
message arrives once with its own Message-ID over far fewer sessions than messages, and a session
the relay closed while it was idle is replaced without losing the message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest
from signaalpunt_notifications.channels import EmailChannel, Outgoing, message_id
from signaalpunt_notifications.sinks import Sinks
from signaalpunt_notifications.templates import Rendered

DOMAIN = "notifications.test"


@pytest.fixture
def relay() -> Iterator[Sinks]:
    sinks = Sinks(smtp_idle_timeout=1).start()
    try:
        yield sinks
    finally:
        sinks.stop()


def _channel(relay: Sinks) -> EmailChannel:
    return EmailChannel(
        host="127.0.0.1", port=relay.smtp_port, sender="signaalpunt@test", message_id_domain=DOMAIN
    )


def _message(n: int) -> Outgoing:
    rendered = Rendered(subject=f"Melding {n}", text=f"Bericht {n}", html=None)
    return Outgoing(uuid4(), f"team-{n % 3}@gemeente.test", rendered, "nl")


async def test_many_messages_arrive_once_each_over_few_sessions(relay: Sinks) -> None:
    channel = _channel(relay)
    sent = [_message(n) for n in range(40)]
    try:
        for message in sent[:20]:  # one sender worker after another message
            await channel.send(message)
        # five workers at once: each takes a session of its own, then gives it back
        for start in range(20, 40, 5):
            await asyncio.gather(*(channel.send(m) for m in sent[start : start + 5]))
    finally:
        await channel.sessions.close()
    ids = [mail.message_id for mail in relay.received.mails]
    assert sorted(ids) == sorted(message_id(m.delivery_id, DOMAIN) for m in sent)
    assert channel.sessions.opened <= 5, "a session per message (or more than the workers)"


async def test_a_session_the_relay_closed_while_idle_is_replaced_and_nothing_is_lost(
    relay: Sinks,
) -> None:
    channel = _channel(relay)
    first, second = _message(1), _message(2)
    try:
        await channel.send(first)
        await asyncio.sleep(2.5)  # the relay's idle timeout (1 s) closes the kept session
        await channel.send(second)
    finally:
        await channel.sessions.close()
    ids = {mail.message_id for mail in relay.received.mails}
    assert ids == {message_id(first.delivery_id, DOMAIN), message_id(second.delivery_id, DOMAIN)}
    assert channel.sessions.opened == 2
