"""Trace context crosses Kafka (through the outbox); logs are JSON with trace ids."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.broker_factory import make_producer
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


def test_access_lines_are_fields_without_address_query_or_probes() -> None:
    """An operator filters requests by field; the client's address and a query never reach the
    log; the orchestrator's probes and Prometheus' scrapes do not drown the requests at INFO."""
    stream = io.StringIO()
    configure_logging("intake", stream=stream, instance="intake-7d9f")
    access = logging.getLogger("uvicorn.access")
    line = '%s - "%s %s HTTP/%s" %d'
    access.info(line, "203.0.113.9:5123", "POST", "/v1/signals?postcode=4531AB", "1.1", 202)
    for probe in ("/livez", "/readyz", "/metrics"):
        access.info(line, "10.0.0.2:40000", "GET", probe, "1.1", 200)
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert len(lines) == 1, lines
    [request] = lines
    assert request["event"] == "http request"
    assert (request["method"], request["path"], request["status"]) == ("POST", "/v1/signals", 202)
    assert request["instance"] == "intake-7d9f"
    assert "203.0.113.9" not in stream.getvalue()
    assert "4531AB" not in stream.getvalue()

    stream = io.StringIO()
    configure_logging("intake", "DEBUG", stream=stream, instance="intake-7d9f")
    access.info(line, "10.0.0.2:40000", "GET", "/readyz", "1.1", 200)
    [probe_line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (probe_line["path"], probe_line["level"]) == ("/readyz", "debug")
    configure_logging("tests")


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


@pytest.mark.parametrize("as_list", [False, True], ids=["event by event", "as a list"])
async def test_a_batch_links_each_producer_span_and_each_event_keeps_its_own_trace(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, as_list: bool
) -> None:
    """Batch consumers (the metrics service) take many events in one delivery: the batch's span
    links every message's producer span, and each event is handled in its own trace, so what
    the handler writes continues that trace instead of starting a root per batch. A handler of
    the whole list (notifications' planner) opens each event's span with `work.traced`."""
    topic = await kafka_topics.private(PLATFORM_PROBE, "batched.v1", consumers=("batcher",))
    sender_telemetry, sender_spans = _telemetry()
    receiver_telemetry, receiver_spans = _telemetry()
    sender = Service(
        settings_for(database_url, infra.kafka_bootstrap, "batch_sender"),
        title="sender",
        migrations=MIGRATIONS,
        telemetry=sender_telemetry,
    )
    receiver = Service(
        settings_for(database_url, infra.kafka_bootstrap, "batcher"),
        title="batcher",
        migrations=MIGRATIONS,
        telemetry=receiver_telemetry,
    )
    handled_in: dict[int, int] = {}  # sequence -> the trace id the handler ran in

    def note(event: Envelope[ProbeV1]) -> None:
        handled_in[event.data.sequence] = trace.get_current_span().get_span_context().trace_id

    if as_list:

        @receiver.consumer(topic, group="batcher", batch_size=20, as_list=True)
        async def receive_all(events: list[Envelope[ProbeV1]], work: UnitOfWork) -> None:
            for event in events:
                with work.traced(event):
                    note(event)

    else:

        @receiver.consumer(topic, group="batcher", batch_size=20)
        async def receive(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
            note(event)

    requests: dict[int, int] = {}  # sequence -> the trace id of the request that wrote it
    tracer = sender_telemetry.tracer_provider.get_tracer("test")
    async with running(sender):
        for sequence in range(1, 6):
            with tracer.start_as_current_span("POST /v1/signals") as request_span:
                async with sender.transaction() as work:
                    event = work.new_event(
                        ProbeV1(run_id="batch", sequence=sequence), municipality="GM0715"
                    )
                    await work.publish(topic, event, key=f"k{sequence}")
            requests[sequence] = request_span.get_span_context().trace_id

        async def relayed() -> bool:
            published = [
                s
                for s in sender_spans.get_finished_spans()
                if s.kind == SpanKind.PRODUCER and topic.name in s.name
            ]
            return len(published) >= 5

        await eventually(relayed, what="the outbox relay to publish the five events")
    # and one sent without any trace context (a tool, a replay by hand)
    untraced = Envelope.new(
        ProbeV1(run_id="batch", sequence=6), municipality="GM0715", producer="a-tool"
    )
    producer = make_producer(infra.kafka_bootstrap, client_id="untraced")
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, untraced.model_dump_json().encode(), key=b"k6")
    finally:
        await producer.stop()

    async with running(receiver):

        async def delivered() -> bool:
            return len(handled_in) == 6

        await eventually(delivered, what="the six events to be handled")

    without_trace = handled_in.pop(6)
    assert handled_in == requests, "each event is handled in the trace of the request"
    producers = {
        s.context.span_id
        for s in sender_spans.get_finished_spans()
        if s.kind == SpanKind.PRODUCER and topic.name in s.name and s.context
    }
    spans = receiver_spans.get_finished_spans()
    batches = [s for s in spans if s.kind == SpanKind.CONSUMER and "process" in s.name]
    assert batches, [s.name for s in spans]
    linked = {link.context.span_id for s in batches for link in s.links}
    assert producers <= linked, "every producer span is linked from the batch that took it"
    batch_ids = {s.context.span_id for s in batches if s.context}
    handles = [s for s in spans if s.name == f"{topic.name} handle"]
    assert len(handles) == 6
    # the untraced event: handled as a child of its batch, not as a root of its own
    (orphan,) = [s for s in handles if s.context and s.context.trace_id == without_trace]
    assert orphan.parent is not None
    assert orphan.parent.span_id in batch_ids
    handles.remove(orphan)
    for span in handles:
        assert span.parent is not None
        assert span.parent.span_id in producers
        assert {link.context.span_id for link in span.links} <= batch_ids
        assert span.links
