"""Signaalpunt's event contracts: the envelope, the event models and the topic registry."""

from .envelope import Envelope, EventPayload, MunicipalityCode, new_event_id
from .partner import (
    ConcernReport,
    FieldError,
    PartnerSignalRejectedV1,
    PartnerSignalV1,
    ReporterReport,
    SignalReport,
    SubjectReport,
)
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
from .topics import (
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    PLATFORM_PROBE,
    REGISTRY,
    SIGNALS_RECEIVED,
    Topic,
    TopicRegistry,
    TopicSpec,
)

__all__ = [
    "PARTNER_REJECTIONS",
    "PARTNER_SIGNALS",
    "PLATFORM_PROBE",
    "REGISTRY",
    "SIGNALS_RECEIVED",
    "AgeBand",
    "Channel",
    "Concern",
    "ConcernReport",
    "Cue",
    "Envelope",
    "EventPayload",
    "FieldError",
    "MunicipalityCode",
    "PartnerSignalRejectedV1",
    "PartnerSignalV1",
    "ProbeV1",
    "ReportedUrgency",
    "Reporter",
    "ReporterKind",
    "ReporterReport",
    "SignalReceivedV1",
    "SignalReport",
    "Subject",
    "SubjectReport",
    "Topic",
    "TopicRegistry",
    "TopicSpec",
    "new_event_id",
]
