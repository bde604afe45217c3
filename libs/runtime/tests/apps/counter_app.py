"""A minimal service on the spine, used by the tests and the benchmark.

It counts probe events: each handled event inserts one row into `effects` (not unique, so a double
effect would show) and bumps `totals`; with an output topic it also publishes a probe there through
the outbox. Behaviour comes from the environment, so tests can run it as a separate process and
kill it with SIGKILL.

    COUNTER_INPUT_TOPIC, COUNTER_OUTPUT_TOPIC (optional), COUNTER_GROUP, COUNTER_MODE (ok|broken)
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1, Topic
from signaalpunt_runtime import PermanentError, Service, ServiceSettings, UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


def probe_topic(name: str, *consumers: str) -> Topic:
    return replace(PLATFORM_PROBE, name=name, consumers=consumers)


def build(
    *,
    settings: ServiceSettings,
    input_topic: Topic | None,
    output_topic: Topic | None = None,
    group: str = "counter",
    mode: str = "ok",
    batch_size: int | None = None,
    lists_seen: list[int] | None = None,
) -> Service:
    """With `lists_seen`, the handler takes lists (`as_list`) and notes each list's length."""
    service = Service(settings, title="Counter (test app)", migrations=MIGRATIONS)
    if input_topic is None:
        return service  # a relay-only process

    async def count(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        if mode == "broken":
            raise RuntimeError("simulated bad deploy")
        if event.data.note == "permanent":
            raise PermanentError("probe marked as never processable")
        await work.connection.execute(
            "INSERT INTO effects (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            event.data.run_id,
            event.data.sequence,
        )
        await work.connection.execute("UPDATE totals SET handled = handled + 1")
        if output_topic is not None:
            forwarded = work.new_event(
                ProbeV1(run_id=event.data.run_id, sequence=event.data.sequence),
                municipality=event.municipality,
            )
            await work.publish(output_topic, forwarded, key=event.data.run_id)

    if lists_seen is not None:

        @service.consumer(input_topic, group=group, batch_size=batch_size, as_list=True)
        async def count_many(events: list[Envelope[ProbeV1]], work: UnitOfWork) -> None:
            lists_seen.append(len(events))
            for event in events:
                await count(event, work)

    else:
        service.consumer(input_topic, group=group, batch_size=batch_size)(count)
    return service


def from_environment() -> Service:
    group = os.environ.get("COUNTER_GROUP", "counter")
    input_name = os.environ.get("COUNTER_INPUT_TOPIC")
    output_name = os.environ.get("COUNTER_OUTPUT_TOPIC")
    settings = ServiceSettings(
        service_name=os.environ.get("COUNTER_SERVICE", "counter"),
        database_schema=os.environ.get("COUNTER_SCHEMA", "counter"),
        systemic_failures=int(os.environ.get("COUNTER_SYSTEMIC_FAILURES", "5")),
    )
    return build(
        settings=settings,
        input_topic=probe_topic(input_name, group) if input_name else None,
        output_topic=probe_topic(output_name, "downstream") if output_name else None,
        group=group,
        mode=os.environ.get("COUNTER_MODE", "ok"),
        batch_size=int(os.environ["COUNTER_BATCH"]) if os.environ.get("COUNTER_BATCH") else None,
    )


if __name__ == "__main__":
    from_environment().run(
        port=int(os.environ.get("COUNTER_PORT", "0")),
        management_port=int(os.environ.get("COUNTER_MANAGEMENT_PORT", "0")),
    )
