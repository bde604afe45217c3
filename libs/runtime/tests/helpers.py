"""Helpers shared by the spine's tests: run a counter service in-process, send probes, wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from signaalpunt_contracts import Envelope, ProbeV1
from signaalpunt_runtime import Service, ServiceSettings
from signaalpunt_runtime.broker_factory import make_producer


def settings_for(database_url: str, kafka: str, schema: str, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        service_name=schema.replace("_", "-"),
        database_schema=schema,
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=kafka,
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
        outbox_poll_interval=0.2,
        **extra,
    )


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    """Start a service like its ASGI lifespan does (database, broker, relay), then stop it."""
    await service.start_database()
    await service.broker.start()
    await service.start_relay()
    try:
        yield service
    finally:
        await service.stop_relay()
        await service.broker.stop()
        await service.stop_database()


def probe(run_id: str, sequence: int, note: str | None = None) -> Envelope[ProbeV1]:
    return Envelope.new(
        ProbeV1(run_id=run_id, sequence=sequence, note=note),
        municipality="GM0715",
        producer="tester",
    )


@asynccontextmanager
async def producer(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(kafka, client_id="test-producer")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def send(
    p: AIOKafkaProducer, topic: str, event: Envelope[Any] | bytes, key: str = "run"
) -> None:
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    await p.send_and_wait(topic, value=value, key=key.encode())


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 60, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def while_progressing(
    count: Callable[[], Awaitable[int]], want: int, *, stall: float = 90, what: str = "all"
) -> None:
    """Wait until `count()` reaches `want`, however long that takes while it keeps growing; fail
    when it has not grown for `stall` seconds. A fixed time limit fails a correct system on a
    busy machine (a slow consumer still gets there); a stall is what a lost event looks like."""
    last, grew_at = -1, time.monotonic()
    while True:
        now = await count()
        if now >= want:
            return
        if now > last:
            last, grew_at = now, time.monotonic()
        elif time.monotonic() - grew_at > stall:
            raise AssertionError(f"stuck at {now} of {want} for {stall:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)


async def scalar(dsn: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()
