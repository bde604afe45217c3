"""Erasure (AVG art. 17, "recht op vergetelheid"): a coordinator erased a person's data.

Intake carries out the erasure (it holds the signals and the blind index): it shreds the data
keys, so every sealed copy anywhere stops opening, and announces it per signal on
`signals.erased.v1`. Every service that derived something from the signal deletes or
anonymises it on that event. The event itself names no person: ids, a scope and a reason
category only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from .envelope import EventPayload


class ErasureScope(StrEnum):
    PERSON = "person"  # the person the signal is about, and with them the whole signal
    REPORTER = "reporter"  # only the reporter's details; the signal itself stays


class ErasureReason(StrEnum):
    """Why, as a category: never a free text (it would be personal data about the erasure)."""

    DATA_SUBJECT_REQUEST = "data_subject_request"  # art. 17 verzoek van de betrokkene
    CONSENT_WITHDRAWN = "consent_withdrawn"
    UNLAWFUL_PROCESSING = "unlawful_processing"
    ENTERED_IN_ERROR = "entered_in_error"  # wrong person, test entry
    RETENTION_EXPIRED = "retention_expired"  # the retention job


class SignalErasedV1(EventPayload):
    """A signal's personal data was erased: delete or anonymise what you derived from it."""

    event_type: ClassVar[str] = "signaalpunt.signal.erased"
    schema_version: ClassVar[int] = 1
    examples = (
        {
            "erasure_id": "01a20900-0000-7000-8000-0000000000e1",
            "signal_id": "01a20900-0000-7000-8000-000000000001",
            "scope": "person",
            "subject_id": "01a20900-0000-7000-8000-0000000000aa",
            "reporter_id": "01a20900-0000-7000-8000-0000000000ab",
            "reason": "data_subject_request",
            "erased_at": "2026-12-01T10:00:00+01:00",
        },
        {
            "erasure_id": "01a20900-0000-7000-8000-0000000000e2",
            "signal_id": "01a20900-0000-7000-8000-000000000002",
            "scope": "reporter",
            "reporter_id": "01a20900-0000-7000-8000-0000000000bc",
            "reason": "consent_withdrawn",
            "erased_at": "2026-12-01T10:05:00+01:00",
        },
    )

    erasure_id: UUID = Field(description="the coordinator's erasure request")
    signal_id: UUID
    scope: ErasureScope
    subject_id: UUID | None = Field(default=None, description="whose data key was shredded")
    reporter_id: UUID | None = Field(default=None, description="the reporter's shredded key")
    reason: ErasureReason
    erased_at: AwareDatetime
