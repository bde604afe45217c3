"""Signaalpunt's event contracts: the envelope, the event models and the topic registry."""

from .envelope import Envelope, EventPayload, MunicipalityCode, new_event_id
from .probe import ProbeV1
from .topics import PLATFORM_PROBE, REGISTRY, Topic, TopicRegistry, TopicSpec

__all__ = [
    "PLATFORM_PROBE",
    "REGISTRY",
    "Envelope",
    "EventPayload",
    "MunicipalityCode",
    "ProbeV1",
    "Topic",
    "TopicRegistry",
    "TopicSpec",
    "new_event_id",
]
