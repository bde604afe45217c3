"""The notifications domain: who is told what, when, and how often. Pure Python, no I/O.

A *rule* turns one domain event into zero or more *messages* (`Message`): which template, over
which channel, to which kind of recipient, in which language, under which quiet-hours policy and
urgency. A message names its recipient twice: `recipient` is a stable key without personal data
(`reporter:<signal id>`, `coordinator:GM0715`, …) that goes into the dedupe key, the logs and the
rate limit; `address` says how to *find* the address at send time (a sealed value, a mailbox in the
municipality's configuration, a partner's webhook) — the address itself is never stored in clear.

Later services add their rules (a referral to an organisation, a match proposal to a volunteer)
with `RuleBook.register`; channels, templates-on-disk, dedupe, quiet hours and the rate limit
stay as they are.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from signaalpunt_contracts import Envelope
from signaalpunt_contracts.notifications import MessageChannel, RecipientKind

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class Urgency(StrEnum):
    NORMAL = "normal"
    ACUTE = "acute"  # an acute signal: no quiet hours, no rate limit, at once


# -- configuration: municipalities and partners -----------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A staff contact or functional mailbox from configuration (not a citizen's data)."""

    email: str | None = None
    phone: str | None = None

    def address(self, channel: MessageChannel) -> str | None:
        return self.email if channel is MessageChannel.EMAIL else self.phone


@dataclass(frozen=True)
class RosterSlot:
    """The coordinator on duty on these weekdays (0 = Monday) between these local times."""

    weekdays: frozenset[int]
    start: time
    end: time
    contact: Contact

    def covers(self, local: datetime) -> bool:
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    phone: str
    signature: Mapping[str, str]
    """per language; a municipality may give one text for all"""
    language: str
    mailboxes: Mapping[str, Contact]
    """desk, team_welzijn, team_eenzaamheid"""
    coordinator: Contact
    """the fixed coordinator contact (and the out-of-hours fallback of the roster)"""
    roster: tuple[RosterSlot, ...] = ()
    staff: Mapping[str, Contact] = field(default_factory=dict)
    """Staff ids (`staff:…`) with a contact of their own, e.g. the social workers coupled to
    volunteers; a staff id not listed is reached through the team welzijn mailbox."""

    def coordinator_on_duty(self, at: datetime) -> Contact:
        local = at.astimezone(AMSTERDAM)
        for slot in self.roster:
            if slot.covers(local):
                return slot.contact
        return self.coordinator

    def template_values(self, language: str) -> dict[str, str]:
        """What templates may say about the municipality (no personal data)."""
        signature = self.signature.get(language) or self.signature.get(self.language, "")
        return {"code": self.code, "name": self.name, "phone": self.phone, "signature": signature}


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    """`whsec_` + base64 (Standard Webhooks)"""


@dataclass(frozen=True)
class Partner:
    urn: str
    name: str
    language: str
    webhook: Webhook | None


@dataclass(frozen=True)
class Directory:
    """The configured world: municipalities and partners."""

    consortium: str
    municipalities: Mapping[str, Municipality]
    partners: Mapping[str, Partner]
    staff_portal_url: str = "https://signaalpunt.example/staff"

    def municipality(self, code: str) -> Municipality:
        try:
            return self.municipalities[code]
        except KeyError:
            raise UnknownMunicipalityError(code) from None


class UnknownMunicipalityError(LookupError):
    """An event for a municipality that has no notification configuration."""


# -- what a rule produces ---------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message a rule decided to send. Everything here is free of personal data except
    the sealed value an `address` may carry."""

    rule: str
    template: str
    channel: MessageChannel
    recipient_kind: RecipientKind
    recipient: str
    address: Mapping[str, str]
    """How to find the address at send time, e.g. {"kind": "sealed", "subject_id": …,
    "value": "pd1.…", "field": "reporter.email"} or {"kind": "mailbox", "municipality": …,
    "mailbox": "desk"}; the sender's address book has one resolver per kind."""
    language: str = DEFAULT_LANGUAGE
    context: Mapping[str, JsonValue] = field(default_factory=dict)
    """Template values without personal data (route, deadline, a link with a token, …)."""
    urgency: Urgency = Urgency.NORMAL
    quiet_hours: bool = False
    """Respect quiet hours (no SMS at night) unless the urgency is acute."""
    reason_event_id: UUID | None = None
    """Default: the event being handled. A rule that acts on an earlier event (e.g. a late
    'received' event completing a 'being handled' message) names that event, so the dedupe key
    stays the same whichever event arrives last."""
    signal_id: UUID | None = None

    def dedupe_key(self, handled_event_id: UUID) -> str:
        reason = self.reason_event_id or handled_event_id
        return f"{reason}|{self.recipient}|{self.template}|{self.channel.value}"


@dataclass(frozen=True)
class SignalFacts:
    """What notifications remembers about one signal (contact values stay sealed)."""

    signal_id: UUID
    municipality: str
    subject_id: UUID | None = None
    reporter_id: UUID | None = None  # whose key seals the reporter's contact values
    received_event_id: UUID | None = None
    may_contact: bool = False
    wants_feedback: bool = False
    reporter_email: str | None = None  # sealed
    reporter_phone: str | None = None  # sealed
    language: str = DEFAULT_LANGUAGE
    route: str | None = None
    decision: int = 0
    first_triage_event_id: UUID | None = None
    closed_event_id: UUID | None = None
    erased: bool = False
    """The person was erased: the facts stay this empty tombstone, whatever arrives later."""


@dataclass(frozen=True)
class RuleContext:
    directory: Directory
    facts: SignalFacts | None = None
    """The signal's remembered facts after this event was recorded (None if not about a signal)."""
    previous: SignalFacts | None = None
    """The facts before this event."""

    def municipality(self, code: str) -> Municipality:
        return self.directory.municipality(code)


Planner = Callable[[Envelope[Any], RuleContext], Sequence[Message]]


@dataclass(frozen=True)
class Rule:
    name: str
    event_type: str
    """The payload's event_type, e.g. "signaalpunt.signal.triaged"."""
    plan: Planner
    description: str = ""


class RuleBook:
    """Rules by event type. Registering a rule touches nothing else."""

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self._rules: dict[str, list[Rule]] = {}
        for rule in rules:
            self.register(rule)

    def register(self, rule: Rule) -> None:
        existing = self._rules.setdefault(rule.event_type, [])
        if any(r.name == rule.name for r in existing):
            raise ValueError(f"rule {rule.name!r} is already registered for {rule.event_type}")
        existing.append(rule)

    def rules_for(self, event_type: str) -> list[Rule]:
        return list(self._rules.get(event_type, ()))

    def __iter__(self) -> Iterator[Rule]:
        return iter([rule for rules in self._rules.values() for rule in rules])

    def plan(self, event: Envelope[Any], context: RuleContext) -> list[Message]:
        return [m for rule in self.rules_for(event.type) for m in rule.plan(event, context)]


# -- when to send: quiet hours, rate limit, retries -------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """No SMS between `start` and `end` local time (Europe/Amsterdam) for those who opted in."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    zone: ZoneInfo = AMSTERDAM

    def applies(self, channel: MessageChannel, quiet_hours: bool, urgency: Urgency) -> bool:
        return quiet_hours and channel is MessageChannel.SMS and urgency is not Urgency.ACUTE

    def release_at(self, now: datetime) -> datetime | None:
        """None when `now` is outside quiet hours; else the next local `end` (08:00)."""
        local = now.astimezone(self.zone)
        t = local.time()
        inside = (
            (t >= self.start or t < self.end)
            if self.start > self.end
            else (self.start <= t < self.end)
        )
        if not inside:
            return None
        day = local.date() if t < self.end else local.date() + timedelta(days=1)
        # a wall-clock time in the zone: correct across the DST changes
        return datetime.combine(day, self.end, tzinfo=self.zone)


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` messages per recipient per `window`; the excess waits, never dropped."""

    limit: int
    window: timedelta

    def admit(
        self, sent: int, oldest: datetime | None, asked: int, now: datetime
    ) -> tuple[int, datetime | None]:
        """How many of `asked` new messages to one recipient may go now, and when the rest may
        (None: all may go). `sent` counts the recipient's sends in the window, up to the limit
        (the most recent ones); `oldest` is the oldest of those. The messages that go now are
        the most recent sends after them, so the limit-th most recent send is `oldest` (or one
        of them, when nothing was sent before); the rest wait until it leaves the window."""
        free = max(0, self.limit - sent)
        if asked <= free:
            return asked, None
        edge = oldest if sent and oldest is not None else now
        return free, max(now, edge + self.window)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts; after `max_attempts` the message fails.

    The schedule is persisted (next_attempt_at) so it survives restarts; tenacity drives
    in-process retries, this drives retries across processes."""

    max_attempts: int = 8
    initial: timedelta = timedelta(seconds=5)
    maximum: timedelta = timedelta(hours=1)

    def next_attempt(
        self, attempts: int, now: datetime, rng: random.Random | None = None
    ) -> datetime:
        base = min(self.maximum.total_seconds(), self.initial.total_seconds() * 2 ** (attempts - 1))
        jitter = (rng or random).uniform(0, base / 4)
        return now + timedelta(seconds=base + jitter)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


class SendError(Exception):
    """A channel's verdict. The message says why, without any personal value (it is stored,
    logged and published)."""


class TransientSendError(SendError):
    """Try again later (connection refused, 4xx SMTP reply, 5xx/429/408 from an HTTP receiver)."""


class PermanentSendError(SendError):
    """Never going to work (5xx SMTP reply, 4xx from an HTTP receiver, no address any more)."""


def http_failure(status: int, what: str) -> SendError:
    """Standard Webhooks' advice, also used for SMS gateways: 4xx except 408/429 is final."""
    reason = f"{what} answered HTTP {status}"
    if 400 <= status < 500 and status not in (408, 429):
        return PermanentSendError(reason)
    return TransientSendError(reason)


def choose_language(*candidates: str | None) -> str:
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
