"""Trace context crosses Kafka (through the outbox); logs are JSON with trace ids."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.logs import configure_logging, get_logger
from signaalpunt_runtime.telemetry import Telemetry
from signaalpunt_testkit.plugin import Infra, TopicFactory

from .apps.counter_app import MIGRATIONS
from .helpers import eventually, running, settings_for


def _telemetry() -> tuple[Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(tracer_provider=provider, meter_provider=MeterProvider()), exporter


def test_log_lines_are_json_with_service_and_trace_ids() -> None:
    stream = io.StringIO()
    configure_logging("intake", stream=stream)
    telemetry, _ = _telemetry()
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("receive signal") as span:
        get_logger("test").info("signal received", channel="web_form")
        logging.getLogger("some.library").warning("from the standard library")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["signal received", "from the standard library"]
    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")
    for line in lines:
        assert line["service"] == "intake"
        assert line["trace_id"] == trace_id
        assert line["span_id"] == span_id
        assert "timestamp" in line
        assert "level" in line
    assert lines[0]["channel"] == "web_form"


async def test_producer_span_is_the_parent_of_the_consumer_span(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "traced.v1", consumers=("receiver",))
    sender_telemetry, sender_spans = _telemetry()
    receiver_telemetry, receiver_spans = _telemetry()
    sender = Service(
        settings_for(database_url, infra.kafka_bootstrap, "sender"),
        title="sender",
        migrations=MIGRATIONS,
        telemetry=sender_telemetry,
    )
    receiver = Service(
        settings_for(database_url, infra.kafka_bootstrap, "receiver"),
        title="receiver",
        migrations=MIGRATIONS,
        telemetry=receiver_telemetry,
    )
    stream = io.StringIO()
    received: list[Envelope[ProbeV1]] = []

    @receiver.consumer(topic, group="receiver")
    async def receive(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        get_logger("receiver").info("probe handled", sequence=event.data.sequence)
        received.append(event)

    async with running(sender), running(receiver):
        configure_logging("receiver", stream=stream)
        tracer = sender_telemetry.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("POST /v1/signals") as request_span:
            async with sender.transaction() as work:
                event = work.new_event(ProbeV1(run_id="trace", sequence=1), municipality="GM0715")
                await work.publish(topic, event, key="trace")

        async def delivered() -> bool:
            return bool(received)

        await eventually(delivered, what="the event to arrive")

    trace_id = request_span.get_span_context().trace_id
    sent = {s.context.span_id: s for s in sender_spans.get_finished_spans() if s.context}
    process = _one(receiver_spans.get_finished_spans(), SpanKind.CONSUMER, topic.name)
    assert process.parent is not None
    assert process.parent.trace_id == trace_id, "the consumer continues the request's trace"
    producer_span = sent[process.parent.span_id]
    assert producer_span.kind == SpanKind.PRODUCER
    assert topic.name in producer_span.name
    # and that producer span descends from the request that wrote the event to the outbox
    ancestor = producer_span
    while ancestor.parent is not None and ancestor.parent.span_id in sent:
        ancestor = sent[ancestor.parent.span_id]
    assert ancestor.context is not None
    assert ancestor.context.span_id == request_span.get_span_context().span_id
    log_line = next(
        json.loads(line) for line in stream.getvalue().splitlines() if "probe handled" in line
    )
    assert log_line["trace_id"] == format(trace_id, "032x")


def _one(spans: tuple[ReadableSpan, ...], kind: SpanKind, topic: str) -> ReadableSpan:
    matching = [s for s in spans if s.kind == kind and topic in s.name]
    assert len(matching) == 1, [(s.name, s.kind) for s in spans]
    return matching[0]
