"""The standard OpenTelemetry variables are the SDK's own configuration: an operator who sets the
per-signal endpoint or headers (e.g. for a collector behind a gateway) gets what they set."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from signaalpunt_runtime.telemetry import setup_telemetry


class _Collector:
    """An OTLP/HTTP receiver that notes the path and headers of every export."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str]]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                collector.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collectors() -> Iterator[tuple[_Collector, _Collector]]:
    base, traces = _Collector(), _Collector()
    yield base, traces
    base.server.shutdown()
    traces.server.shutdown()


def test_the_per_signal_endpoint_and_headers_are_honoured(
    collectors: tuple[_Collector, _Collector], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, traces = collectors
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{traces.url}/gateway/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=signaalpunt")
    telemetry = setup_telemetry("tests", "tests-0", base.url)
    with telemetry.tracer_provider.get_tracer("tests").start_as_current_span("a signal"):
        pass
    assert telemetry.tracer_provider.force_flush(10_000)
    telemetry.tracer_provider.shutdown()

    assert [path for path, _ in traces.got] == ["/gateway/traces"]
    assert traces.got[0][1]["x-tenant"] == "signaalpunt"
    assert not [path for path, _ in base.got if "traces" in path]
