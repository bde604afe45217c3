"""OpenTelemetry tracer and meter providers for one service.

Spans and metrics are exported over OTLP/HTTP when an endpoint is configured; without one the
providers still create spans (so trace ids reach the logs and the Kafka headers) but export nothing.
The standard variables are the SDK's own configuration and are honoured as the SDK documents them
(`OTEL_EXPORTER_OTLP_ENDPOINT`, the per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
`..._METRICS_ENDPOINT`, `..._HEADERS`, `..._CERTIFICATE`, `..._TIMEOUT`, `..._COMPRESSION`):
the exporters are then built without arguments, so the SDK reads them all. An endpoint given only
in the service's settings is used as the base of both paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


@dataclass(frozen=True)
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


_STANDARD = {
    "traces": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "metrics": ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
}


def _endpoint(signal: str, otlp_endpoint: str | None) -> tuple[bool, str | None]:
    """(export?, explicit endpoint): None = the SDK reads the standard variables itself."""
    if any(os.environ.get(name) for name in _STANDARD[signal]):
        return True, None
    if otlp_endpoint:
        return True, f"{otlp_endpoint.rstrip('/')}/v1/{signal}"
    return False, None


def setup_telemetry(service: str, instance: str, otlp_endpoint: str | None) -> Telemetry:
    resource = Resource.create({"service.name": service, "service.instance.id": instance})
    tracer_provider = TracerProvider(resource=resource)
    readers = []
    export_traces, traces_endpoint = _endpoint("traces", otlp_endpoint)
    if export_traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint))
        )
    export_metrics, metrics_endpoint = _endpoint("metrics", otlp_endpoint)
    if export_metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter,
        )

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=metrics_endpoint)))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    return Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
