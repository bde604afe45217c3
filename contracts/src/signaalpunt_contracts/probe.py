"""Probe events: a harmless event that proves a pipeline works end to end.

Operators send one through a service (outbox → Kafka → inbox) after a deploy; `make demo` sends a
batch of them to show the delivery guarantees. A probe carries no personal data.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .envelope import EventPayload


class ProbeV1(EventPayload):
    """A probe sent through the pipeline; `sequence` lets the receiver spot gaps and doubles."""

    event_type: ClassVar[str] = "signaalpunt.platform.probe"
    schema_version: ClassVar[int] = 1
    examples = (
        {"run_id": "demo-2026-11-23", "sequence": 1, "note": "after deploy of intake 1.4.2"},
        {"run_id": "smoke", "sequence": 10000},
    )

    run_id: str = Field(min_length=1, max_length=64, description="groups the probes of one run")
    sequence: int = Field(ge=0, description="position within the run")
    note: str | None = Field(default=None, max_length=200, description="free text for operators")
