"""Channels: how a rendered message leaves the building. One small interface, three adapters.

Every adapter gets the delivery's stable id and passes it to the receiver (e-mail Message-ID,
SMS `reference` and `Idempotency-Key`, `webhook-id`), so a resend after a crash carries the same
id and the receiver can discard it. An adapter raises `TransientSendError` (try again later) or
`PermanentSendError` (never); their messages carry status codes, never the address or the
receiver's reply text (an SMTP reply may quote the address).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Any, Protocol, cast
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp
import aiosmtplib
from signaalpunt_contracts.notifications import MessageChannel

from .domain import PermanentSendError, TransientSendError, http_failure
from .templates import Rendered


@dataclass(frozen=True)
class Outgoing:
    delivery_id: UUID
    address: str
    """e-mail address, phone number or webhook URL: only in memory, only while sending"""
    rendered: Rendered
    language: str
    secret: str | None = None
    """the webhook's `whsec_` secret"""
    payload: dict[str, Any] | None = None
    """the webhook's JSON body"""


class Channel(Protocol):
    channel: MessageChannel
    provider: str
    """Who carries the message (the SMTP relay's or SMS gateway's host): a metric label, so an
    operator sees which provider fails; never a recipient."""

    async def send(self, message: Outgoing) -> None: ...


def message_id(delivery_id: UUID, domain: str) -> str:
    return f"<{delivery_id}@{domain}>"


class EmailChannel:
    """SMTP with aiosmtplib; STARTTLS configurable (auto: when the server offers it)."""

    channel = MessageChannel.EMAIL

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        message_id_domain: str,
        starttls: str = "auto",
        tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15,
        keep_sessions: int = 8,
        session_idle: float = 30,
    ) -> None:
        self.host, self.port = host, port
        self.provider = host
        self.sender = sender
        self.message_id_domain = message_id_domain
        self.start_tls = {"auto": None, "always": True, "never": False}[starttls]
        self.tls = tls
        self.username, self.password = username, password
        self.timeout = timeout
        self.sessions = SmtpSessions(self._connect, keep=keep_sessions, idle_for=session_idle)
        name, self._envelope_from = parseaddr(sender)
        self._from = formataddr((name, self._envelope_from))  # a name not in ASCII: encoded

    def _connect(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            start_tls=self.start_tls,
            use_tls=self.tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
        )

    def build(self, message: Outgoing) -> Mail:
        """The message as it goes on the wire. Built with the standard library's MIME classes
        and written by a policy that leaves short ASCII headers unfolded: building and writing
        an `EmailMessage` (every header parsed and folded by the header registry) was the
        largest part of notifications' CPU per signal (issue 22: 2.3 ms per e-mail, now 0.3).
        An address that is not ASCII (an internationalised mailbox) takes `email_message`."""
        address = message.address
        if any(c in address for c in "\r\n\0"):
            raise PermanentSendError("e-mail address not valid (a line break)")
        rendered = message.rendered
        if not address.isascii():
            return Mail(self._envelope_from, address, self.email_message(message))
        text = _text_part(rendered.text, "plain")
        if rendered.html:
            email: Message = MIMEMultipart("alternative")
            # random: it cannot occur in the texts (the generator would search them for it)
            email.set_boundary(uuid.uuid4().hex)
            email.attach(text)
            email.attach(_text_part(rendered.html, "html"))
        else:
            email = text
        subject = rendered.subject or ""
        email["From"] = self._from
        email["To"] = address
        # not ASCII: RFC 2047 encoded words, which compat32 folds as a `Header` (typed as str)
        email["Subject"] = subject if subject.isascii() else cast("str", Header(subject, "utf-8"))
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.delivery_id, self.message_id_domain)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
        email["Content-Language"] = message.language
        return Mail(self._envelope_from, address, email.as_bytes(policy=_WIRE))

    def email_message(self, message: Outgoing) -> EmailMessage:
        """The message as an `EmailMessage` (its headers through the header registry): for an
        address that is not ASCII, which aiosmtplib sends with SMTPUTF8."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.address
        email["Subject"] = message.rendered.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.delivery_id, self.message_id_domain)
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.rendered.text)
        if message.rendered.html:
            email.add_alternative(message.rendered.html, subtype="html")
        email["Content-Language"] = message.language  # after set_content, which drops Content-*
        return email

    async def send(self, message: Outgoing) -> None:
        try:
            await self.sessions.send(self.build(message))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise _smtp_failure(min(codes) if codes else 450) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc.code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(f"SMTP server not reachable ({type(exc).__name__})") from None


class _ShortHeadersAsTheyAre(Compat32):
    """compat32, except that a header of plain ASCII that fits on one line is written as it is
    rather than folded through `email.header.Header` (half the cost of writing a message);
    anything else (a long Content-Type, an encoded subject) is folded as before."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (
            isinstance(value, str)
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
            and len(name) + len(value) + 2 <= (self.max_line_length or 78)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _ShortHeadersAsTheyAre(linesep="\r\n")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in a raw message, unlike base64


def _text_part(body: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, _UTF8)
    return part


@dataclass(frozen=True)
class Mail:
    """One e-mail ready to go: the envelope and the message, as bytes (or, for an address that
    is not ASCII, as an `EmailMessage` that aiosmtplib sends with SMTPUTF8)."""

    envelope_from: str
    recipient: str
    content: bytes | EmailMessage

    async def send_on(self, session: aiosmtplib.SMTP) -> None:
        if isinstance(self.content, bytes):
            await session.sendmail(self.envelope_from, [self.recipient], self.content)
        else:
            await session.send_message(self.content)


class SmtpSessions:
    """Open SMTP sessions to one relay, reused from message to message: a session per message
    paid a TCP (and TLS) handshake, EHLO and AUTH each time (issue 22). A session that fails in
    any way is closed, never reused; one the relay closed while it was idle (its own timeout) is
    replaced once at once, as nothing was accepted on it; sessions idle longer than `idle_for`
    are closed rather than tried. At most `keep` idle sessions are kept (one per sender worker
    is enough)."""

    def __init__(
        self, connect: Callable[[], aiosmtplib.SMTP], *, keep: int, idle_for: float
    ) -> None:
        self._connect = connect
        self._keep = keep
        self._idle_for = idle_for
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []
        self.opened = 0  # sessions opened so far (tests and the benchmark read it)

    async def send(self, email: Mail) -> None:
        session, reused = self._take()
        if session is None:
            session = await self._open()
        try:
            await email.send_on(session)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            session.close()
            if not reused:
                raise
            session = await self._open()  # the relay dropped the idle session: a fresh one
            try:
                await email.send_on(session)
            except BaseException:
                session.close()
                raise
        except BaseException:
            session.close()
            raise
        self._give_back(session)

    async def close(self) -> None:
        """QUIT every idle session (at the service's stop)."""
        idle, self._idle = self._idle, []
        for _, session in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await session.quit()
            session.close()

    async def _open(self) -> aiosmtplib.SMTP:
        session = self._connect()
        try:
            await session.connect()
        except BaseException:  # refused, timed out, or the send's own timeout cancelled it
            session.close()
            raise
        self.opened += 1
        return session

    def _take(self) -> tuple[aiosmtplib.SMTP | None, bool]:
        now = time.monotonic()
        while self._idle:
            since, session = self._idle.pop()  # the most recently used: least likely timed out
            if now - since <= self._idle_for and session.is_connected:
                return session, True
            session.close()
        return None, False

    def _give_back(self, session: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._keep and session.is_connected:
            self._idle.append((time.monotonic(), session))
        else:
            session.close()


def _smtp_failure(code: int) -> PermanentSendError | TransientSendError:
    if code >= 500:
        return PermanentSendError(f"SMTP server refused permanently ({code})")
    return TransientSendError(f"SMTP server refused for now ({code})")


class HttpClient:
    """One HTTP session for the SMS gateway and the webhooks: connections kept open, made on
    first use (an aiohttp session belongs to the running event loop). aiohttp rather than httpx:
    at a steady 60 signals/s an SMS through httpx cost 1.4 ms of CPU, a fifth of the stage's
    (issue 22)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> int:
        """POST the body; the answer's status (never followed: a redirect is no delivery).
        Raises `aiohttp.ClientError` or `TimeoutError` when the receiver is not reached."""
        async with self.session().post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            await response.read()  # the whole answer, so the connection can be used again
            return response.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _unreachable(what: str, exc: BaseException) -> TransientSendError:
    return TransientSendError(f"{what} not reachable ({type(exc).__name__})")


def _success(status: int) -> bool:
    return 200 <= status < 300


class MessageBirdSms:
    """An SMS gateway with a MessageBird-style JSON API: POST /messages with an access key."""

    channel = MessageChannel.SMS

    def __init__(self, client: HttpClient, *, url: str, access_key: str, originator: str) -> None:
        self.client = client
        self.url = url
        self.provider = urlsplit(url).hostname or "sms-gateway"
        self.access_key = access_key
        self.originator = originator

    async def send(self, message: Outgoing) -> None:
        body = {
            "originator": self.originator,
            "recipients": [message.address],
            "body": message.rendered.text,
            "reference": str(message.delivery_id),
        }
        try:
            status = await self.client.post(
                self.url,
                body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"AccessKey {self.access_key}",
                    "Idempotency-Key": str(message.delivery_id),
                },
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unreachable("SMS gateway", exc) from None
        if not _success(status):
            raise http_failure(status, "SMS gateway")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks v1: base64 HMAC-SHA256 over "id.timestamp.body" with the secret's
    bytes (the base64 part after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookChannel:
    """Webhooks signed per Standard Webhooks; the delivery id is the `webhook-id`."""

    channel = MessageChannel.WEBHOOK
    # each partner's own endpoint: failures per partner are in the delivery log, not a label
    provider = "partner-endpoint"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> None:
        if message.secret is None or message.payload is None:
            raise PermanentSendError("webhook without secret or payload")
        body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        webhook_id = str(message.delivery_id)
        timestamp = int(time.time())
        try:
            status = await self.client.post(
                message.address,
                body=body,
                headers={
                    "content-type": "application/json",
                    "webhook-id": webhook_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(message.secret, webhook_id, timestamp, body),
                },
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unreachable("webhook endpoint", exc) from None
        if not _success(status):
            raise http_failure(status, "webhook endpoint")
