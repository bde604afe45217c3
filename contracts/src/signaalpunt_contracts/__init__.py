"""Signaalpunt's event contracts: the envelope, the event models and the topic registry."""

from .envelope import Envelope, EventPayload, MunicipalityCode, new_event_id
from .probe import ProbeV1
from .signals import (
    AgeBand,
    Channel,
    Concern,
    Cue,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    Subject,
)
from .topics import PLATFORM_PROBE, REGISTRY, SIGNALS_RECEIVED, Topic, TopicRegistry, TopicSpec

__all__ = [
    "PLATFORM_PROBE",
    "REGISTRY",
    "SIGNALS_RECEIVED",
    "AgeBand",
    "Channel",
    "Concern",
    "Cue",
    "Envelope",
    "EventPayload",
    "MunicipalityCode",
    "ProbeV1",
    "ReportedUrgency",
    "Reporter",
    "ReporterKind",
    "SignalReceivedV1",
    "Subject",
    "Topic",
    "TopicRegistry",
    "TopicSpec",
    "new_event_id",
]
