"""The event envelope every Signaalpunt event travels in.

The envelope carries what every consumer needs to route, deduplicate and trace an event without
looking at its payload: the event id (UUIDv7, so ids sort by time), the type and schema version,
when it happened, the municipality it belongs to (the tenant), and the correlation and causation ids
that tie a chain of events together. Personal data is never in the envelope; it lives encrypted
inside the payload.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar, cast
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from uuid_utils.compat import uuid7

MunicipalityCode = Annotated[
    str,
    StringConstraints(pattern=r"^GM\d{4}$"),
    Field(description="CBS municipality code (gemeentecode), e.g. GM0715 for Terneuzen"),
]
"""The tenant of every event and row: a CBS gemeentecode."""

ServiceName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,40}$"),
    Field(description="the producing service, e.g. intake"),
]


def new_event_id() -> UUID:
    """A UUIDv7: unique, and sortable by creation time (useful in logs and outbox order)."""
    return uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventPayload(BaseModel):
    """Base of every event payload. A subclass names its type and carries example payloads.

    Compatibility rule: adding an optional field is a minor change of the same model; anything
    else (removing, renaming, retyping, making required) is a new model `...V2` on a new topic.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    """Stable name, e.g. "signaalpunt.signal.received"; the version is in `schema_version`."""
    schema_version: ClassVar[int] = 1
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()
    """Realistic example payloads; a test validates every one of them."""


PayloadT = TypeVar("PayloadT", bound=EventPayload)


class Envelope(BaseModel, Generic[PayloadT]):
    """One event: metadata plus a typed payload in `data`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(default_factory=new_event_id, description="UUIDv7; the inbox key")
    type: str = Field(description="the payload's event_type")
    schema_version: int = Field(ge=1, description="the payload's schema version")
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    municipality: MunicipalityCode
    correlation_id: UUID = Field(
        description="shared by every event of one chain (e.g. everything about one signal)"
    )
    causation_id: UUID | None = Field(
        default=None, description="the event_id of the event that caused this one"
    )
    producer: ServiceName
    data: PayloadT

    @model_validator(mode="after")
    def _type_matches_payload(self) -> Self:
        payload_type = type(self.data)
        if self.type != payload_type.event_type:
            raise ValueError(
                f"type {self.type!r} does not match payload {payload_type.__name__} "
                f"({payload_type.event_type!r})"
            )
        if self.schema_version != payload_type.schema_version:
            raise ValueError(
                f"schema_version {self.schema_version} does not match payload "
                f"{payload_type.__name__} (version {payload_type.schema_version})"
            )
        return self

    @classmethod
    def new(
        cls,
        data: PayloadT,
        *,
        municipality: str,
        producer: str,
        caused_by: Envelope[Any] | None = None,
        correlation_id: UUID | None = None,
    ) -> Envelope[PayloadT]:
        """A new event. Caused by another event, it inherits that chain's correlation id."""
        event_id = new_event_id()
        if correlation_id is None:
            correlation_id = caused_by.correlation_id if caused_by else event_id
        # Parametrise with the payload's own class: pydantic then serialises all its fields
        model = cast("type[Envelope[PayloadT]]", _envelope_of(type(data)))
        return model(
            event_id=event_id,
            type=data.event_type,
            schema_version=data.schema_version,
            municipality=municipality,
            correlation_id=correlation_id,
            causation_id=caused_by.event_id if caused_by else None,
            producer=producer,
            data=data,
        )


@functools.cache
def _envelope_of(payload: type[EventPayload]) -> type[Envelope[Any]]:
    """`Envelope[payload]`, built once per payload class (pydantic's own lookup is not free)."""
    return cast("type[Envelope[Any]]", Envelope.__class_getitem__(payload))
