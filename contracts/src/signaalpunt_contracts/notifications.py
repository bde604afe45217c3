"""Notifications: what became of each message the notifications service decided to send.

No addresses, names or message bodies: only which rule, template, channel and kind of recipient,
and whether it went out. Metrics and operators read this; the delivery log itself stays inside
the notifications service.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from .envelope import EventPayload


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class RecipientKind(StrEnum):
    REPORTER = "reporter"
    COORDINATOR = "coordinator"  # the regisseur on duty
    DESK = "desk"
    TEAM = "team"
    PARTNER = "partner"
    ORGANISATION = "organisation"  # a receiving organisation (referral, later)
    VOLUNTEER = "volunteer"
    SOCIAL_WORKER = "social_worker"


class DeliveryStatus(StrEnum):
    SENT = "sent"  # the receiver (SMTP server, SMS gateway, webhook endpoint) accepted it
    QUEUED = "queued"  # held back (quiet hours, rate limit) and sent later
    FAILED = "failed"  # permanently refused or retries exhausted; also on the dead-letter topic


class NotificationV1(EventPayload):
    """One message's outcome (sent, queued or failed)."""

    event_type: ClassVar[str] = "signaalpunt.notification.outcome"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "notification_id": "01a20900-0000-7000-8000-0000000000c1",
            "reason_event_id": "01a20900-0000-7000-8000-0000000000e1",
            "reason_type": "signaalpunt.signal.received",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "rule": "acknowledge-reporter",
            "template": "reporter_acknowledgement",
            "language": "nl",
            "channel": "email",
            "recipient_kind": "reporter",
            "status": "sent",
            "attempts": 1,
            "at": "2026-11-23T09:14:03+01:00",
        },
        {
            "notification_id": "01a20900-0000-7000-8000-0000000000c2",
            "reason_event_id": "01a20900-0000-7000-8000-0000000000e2",
            "reason_type": "signaalpunt.partner.signal-rejected",
            "rule": "refusal-to-partner",
            "template": "partner_refusal",
            "language": "en",
            "channel": "webhook",
            "recipient_kind": "partner",
            "status": "failed",
            "attempts": 6,
            "error": "webhook endpoint answered 410 Gone",
            "at": "2026-11-23T10:05:00+01:00",
        },
    )

    notification_id: UUID
    reason_event_id: UUID = Field(description="the event that caused the message")
    reason_type: str = Field(max_length=120)
    signal_id: UUID | None = None
    rule: str = Field(max_length=80)
    template: str = Field(max_length=80)
    language: str = Field(pattern=r"^(nl|en)$")
    channel: MessageChannel
    recipient_kind: RecipientKind
    status: DeliveryStatus
    attempts: int = Field(ge=0)
    error: str | None = Field(
        default=None, max_length=500, description="why it failed, without any personal value"
    )
    at: AwareDatetime
