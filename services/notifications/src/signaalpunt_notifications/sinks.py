"""Local receivers for development, tests and the demo: an SMTP sink (aiosmtpd) and one HTTP
server that plays both the SMS gateway (`POST /messages`) and partners' webhook endpoints
(`POST /webhooks/<partner>`). They run in threads of their own, so they serve whatever event
loop (or none) the caller has.

    signaalpunt-notifications sinks          # SMTP on 1025, HTTP on 1026: the `make run` defaults
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

SMS_PATH = "/messages"
WEBHOOK_PREFIX = "/webhooks/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    """A mail as it arrived. It is read (parsed as MIME) when someone asks for its parts: in
    the end-to-end benchmark the sink shares the cores with the pipeline it receives from, and
    parsing every message as it came in cost more of them than the sending did."""

    message_id: str
    recipients: tuple[str, ...]
    content: bytes

    @cached_property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def language(self) -> str:
        return str(self.message["Content-Language"])

    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return cast("str", body.get_content()) if body else ""

    def html(self) -> str:
        body = self.message.get_body(("html",))
        return cast("str", body.get_content()) if body else ""


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[str, dict[str, str], bytes], int]
"""Decides the HTTP status a request gets (tests make receivers fail); default 2xx."""


@dataclass
class Received:
    """Everything the sinks accepted (also what they refused, in `refused`)."""

    mails: list[ReceivedMail] = field(default_factory=list)
    sms: list[ReceivedRequest] = field(default_factory=list)
    webhooks: list[ReceivedRequest] = field(default_factory=list)
    refused: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_HEADERS = BytesHeaderParser(policy=policy.compat32)
"""The header block only, values as they are: what a sink needs to file a message."""


class _SmtpHandler:
    def __init__(self, received: Received, refuse: set[str], code: Callable[[], int]) -> None:
        self.received = received
        self.refuse = refuse
        self.code = code

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        status = self.code()
        if status != 250:
            return f"{status} not now"
        content: bytes = envelope.original_content
        headers = _HEADERS.parsebytes(content, headersonly=True)
        with self.received.lock:
            self.received.mails.append(
                ReceivedMail(
                    # a long Message-ID is folded onto its own line (it has no spaces of its own)
                    "".join(str(headers["Message-ID"]).split()),
                    tuple(envelope.rcpt_tos),
                    content,
                )
            )
        return "250 Message accepted for delivery"


class Sinks:
    """An SMTP sink and an HTTP receiver on free (or given) local ports."""

    def __init__(
        self,
        *,
        smtp_port: int | None = None,
        http_port: int | None = None,
        responder: Responder | None = None,
        host: str = "127.0.0.1",
        smtp_idle_timeout: float = 300,
    ) -> None:
        self.host = host
        self.smtp_idle_timeout = smtp_idle_timeout  # a relay closes a silent session after it
        self.smtp_port = smtp_port or free_port()
        self.http_port = http_port or free_port()
        self.received = Received()
        self.responder: Responder = responder or (lambda _path, _headers, _body: 200)
        self.smtp_reply: Callable[[], int] = lambda: 250
        self.refuse_mail: set[str] = set()
        self._smtp: Any = None
        self._http: ThreadingHTTPServer | None = None

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}{SMS_PATH}"

    def webhook_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{WEBHOOK_PREFIX}{name}"

    def env(self) -> dict[str, str]:
        """The notifications service's settings that point it at these sinks."""
        return {
            "SIGNAALPUNT_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "SIGNAALPUNT_NOTIFICATIONS_SMTP_PORT": str(self.smtp_port),
            "SIGNAALPUNT_NOTIFICATIONS_SMS_GATEWAY_URL": self.sms_url,
        }

    def start(self) -> Sinks:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - only the sinks need it

        # late binding: a test may swap `smtp_reply` while the sink runs
        # the sink plays an outside mail server: its own chatter (with addresses) is not ours
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        handler = _SmtpHandler(self.received, self.refuse_mail, lambda: self.smtp_reply())  # noqa: PLW0108
        self._smtp = Controller(
            handler,
            hostname=self.host,
            port=self.smtp_port,
            timeout=self.smtp_idle_timeout,  # forwarded to aiosmtpd's SMTP
            enable_SMTPUTF8=True,  # as relays do: mailboxes whose names are not ASCII
        )
        self._smtp.start()
        self._http = ThreadingHTTPServer((self.host, self.http_port), self._http_handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True, name="sinks-http").start()
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as an SMS gateway's API and a partner's webhook receiver keep it: with
            # the default (HTTP/1.0, a connection per request) the sender paid a new connection
            # for every SMS, and a benchmark measured that rather than the sender
            protocol_version = "HTTP/1.1"
            # the answer goes out in two writes (headers, body): on a connection kept open,
            # Nagle's algorithm held the body back for the client's delayed ACK, 40 ms a message
            disable_nagle_algorithm = True
            timeout = 60  # an idle connection's thread goes after a minute (clients close first)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = ReceivedRequest(self.path, headers, body)
                status = sinks.responder(self.path, headers, body)
                with sinks.received.lock:
                    if status >= 300:
                        sinks.received.refused.append(request)
                    elif self.path == SMS_PATH:
                        sinks.received.sms.append(request)
                    elif self.path.startswith(WEBHOOK_PREFIX):
                        sinks.received.webhooks.append(request)
                    else:
                        status = 404
                answer = b'{"id": "accepted"}' if status < 300 else b'{"error": "refused"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: request lines would carry nothing useful."""

        return Handler
