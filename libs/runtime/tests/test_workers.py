"""Several workers per replica (workers.py): what the supervisor makes of its workers' answers,
and the settings that choose a process's role. The workers themselves run in intake's
test_process_roles.py, as processes on the real Kafka and PostgreSQL."""

from __future__ import annotations

import json
import signal

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.workers import (
    Answer,
    combined_metrics,
    combined_probe,
    dechunked,
    exit_status,
)

from .apps.counter_app import build, probe_topic


def _ready(ok: bool) -> Answer:
    body = {"status": "ok" if ok else "unavailable", "checks": {"postgres": "ok"}}
    return Answer(200 if ok else 503, [], json.dumps(body).encode())


def test_the_replica_is_ready_when_every_worker_is() -> None:
    ok, body = combined_probe({"1": _ready(True), "2": _ready(True)})
    assert ok
    assert body["workers"]["2"]["checks"] == {"postgres": "ok"}
    ok, body = combined_probe({"1": _ready(True), "2": _ready(False)})
    assert not ok
    assert body["status"] == "unavailable"
    ok, body = combined_probe({"1": _ready(True), "2": Answer(0, [], b"")})
    assert not ok
    assert body["workers"]["2"] == "no answer"


def _metrics(served: float) -> Answer:
    registry = CollectorRegistry()
    Counter("requests", "requests served", ["route"], registry=registry).labels("/a").inc(served)
    Gauge("relay_active", "1 when relaying", registry=registry).set(served > 1)
    return Answer(200, [], generate_latest(registry))


def test_metrics_keep_each_workers_series_under_its_label() -> None:
    text = combined_metrics({"1": _metrics(3), "2": _metrics(1), "3": Answer(0, [], b"")})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }
    assert samples[("requests_total", (("route", "/a"), ("worker", "1")))] == 3
    assert samples[("requests_total", (("route", "/a"), ("worker", "2")))] == 1
    assert samples[("relay_active", (("worker", "1"),))] == 1
    assert samples[("signaalpunt_http_worker_up", (("worker", "3"),))] == 0
    assert samples[("signaalpunt_http_worker_up", (("worker", "1"),))] == 1
    # one family per name (the text format wants a family's series together)
    assert text.decode().count("# TYPE requests_total counter") == 1


def test_a_chunked_answer_is_read_whole() -> None:
    assert dechunked(b"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n") == b"hello world"


def test_exit_status_as_a_shell_reports_it() -> None:
    assert exit_status(0) == 0
    assert exit_status(3 << 8) == 3
    assert exit_status(signal.SIGKILL) == 128 + signal.SIGKILL


def test_role_and_workers_are_settings_of_each_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNAALPUNT_SERVICE_ROLE", "relay")
    settings = ServiceSettings(service_name="counter")
    assert settings.role == "relay"
    assert settings.http_workers == 1
    monkeypatch.setenv("SIGNAALPUNT_SERVICE_HTTP_WORKERS", "2")
    with pytest.raises(ValidationError, match="HTTP_WORKERS"):
        ServiceSettings(service_name="counter")
    monkeypatch.setenv("SIGNAALPUNT_SERVICE_ROLE", "api")
    assert ServiceSettings(service_name="counter").http_workers == 2
    monkeypatch.setenv("SIGNAALPUNT_SERVICE_ROLE", "consumers")
    with pytest.raises(ValidationError):
        ServiceSettings(service_name="counter")


def test_a_relay_process_joins_no_consumer_group_and_needs_both() -> None:
    topic = probe_topic("roles.probe.v1", "counter")
    relay = build(settings=ServiceSettings(service_name="counter", role="relay"), input_topic=topic)
    assert relay.stages == []
    assert relay.needs == ["postgres", "kafka"]
    assert relay.metrics.get_sample_value("signaalpunt_outbox_relay_active") == 0


def test_an_api_process_has_no_relay_and_no_relay_metrics() -> None:
    topic = probe_topic("roles.probe.v1", "counter")
    api = build(settings=ServiceSettings(service_name="counter", role="api"), input_topic=topic)
    assert len(api.stages) == 1
    assert api.metrics.get_sample_value("signaalpunt_outbox_relay_active") is None
