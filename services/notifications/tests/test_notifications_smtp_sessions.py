"""The e-mail channel keeps its SMTP sessions open from message to message (issue 22): a session
per message cost a TCP handshake, EHLO (and STARTTLS and AUTH at a real relay) every time, on the
path every coordinator's and team's mail takes. Against a real SMTP server (aiosmtpd): every
message arrives once with its own Message-ID over far fewer sessions than messages, and a session
the relay closed while it was idle is replaced without losing the message. And what arrives
reads as it was written, now that messages are written without the header registry (issue 22:
building an `EmailMessage` was the largest part of notifications' CPU per signal)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest
from signaalpunt_notifications.channels import EmailChannel, Outgoing, message_id
from signaalpunt_notifications.domain import PermanentSendError
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


async def test_what_arrives_reads_as_written(relay: Sinks) -> None:
    channel = EmailChannel(
        host="127.0.0.1",
        port=relay.smtp_port,
        sender="Signaalpunt Zeeuws-Vlaanderen — Terneuzen <signaalpunt@test>",
        message_id_domain=DOMAIN,
    )
    long_dutch = "Één signaal voor het wijkteam van café De Ütrecht, graag vóór vrijdag bellen " * 2
    text = "Beste team,\n\nMevrouw wil graag één keer per week koffie drinken — ’s ochtends.\n"
    html = "<p>Beste team,</p><p>Mevrouw wil graag <b>één</b> keer per week koffie drinken.</p>"
    plain = Outgoing(uuid4(), "wijkteam@gemeente.test", Rendered("Nieuw signaal", text, None), "nl")
    both = Outgoing(uuid4(), "team@gemeente.test", Rendered(long_dutch.strip(), text, html), "en")
    international = Outgoing(uuid4(), "jöhn@gemeente.test", Rendered("Één", text, html), "nl")
    try:
        for message in (plain, both, international):
            await channel.send(message)
        with pytest.raises(PermanentSendError):  # no header of its own through the address
            await channel.send(
                Outgoing(uuid4(), "a@gemeente.test\r\nBcc: b@elders.test", plain.rendered, "nl")
            )
    finally:
        await channel.sessions.close()
    mails = {mail.message_id: mail for mail in relay.received.mails}
    assert len(mails) == 3
    for sent in (plain, both, international):
        mail = mails[message_id(sent.delivery_id, DOMAIN)]
        assert mail.recipients == (sent.address,)
        assert mail.subject == sent.rendered.subject
        assert mail.text().replace("\r\n", "\n") == text
        assert mail.html().replace("\r\n", "\n").strip() == (sent.rendered.html or "")
        assert mail.language == sent.language
        assert mail.message["Auto-Submitted"] == "auto-generated"
        (sender,) = mail.message["From"].addresses
        assert sender.addr_spec == "signaalpunt@test"
        if sent is not international:  # (raw UTF-8 in an address header: the parser's bytes)
            assert sender.display_name == "Signaalpunt Zeeuws-Vlaanderen — Terneuzen"
