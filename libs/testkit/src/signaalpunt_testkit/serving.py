"""A service under test as its users see it: served over real HTTP on a free port, with a clock
the test can set, and a reader for the events it published to the real Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import uvicorn
from signaalpunt_contracts import Envelope, EventPayload, Topic
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.serving import serving as serving_service

from .containers import free_port

P = TypeVar("P", bound=EventPayload)


@dataclass
class SettableClock:
    """The service's clock: real time until a test sets `frozen`."""

    frozen: datetime | None = None

    def __call__(self) -> datetime:
        return self.frozen or datetime.now(UTC)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app (lifespan included) on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def database_settings(database_url: str, service_database_url: str | None) -> dict[str, Any]:
    """A service's database settings under test: the owner's database, or with
    `service_database_url` its own role's (migrated beforehand by the owner, as the migration
    job does in a deployment), the key store staying the owner's."""
    if service_database_url is None:
        return {"database_url": database_url}
    return {
        "database_url": service_database_url,
        "key_store_database_url": database_url,
        "migrate_on_start": False,
    }


@dataclass(frozen=True)
class Served:
    """A service served over HTTP as its users reach it, and a vault on its key store."""

    client: httpx.AsyncClient  # the API port
    management: httpx.AsyncClient  # health, metrics, the documents
    vault: PersonalDataVault  # seals and opens as the service does


@asynccontextmanager
async def served_with_vault(
    app: Any, database_url: str, key_encryption_keys: str, *, http_timeout: float = 30
) -> AsyncIterator[Served]:
    """Serve a service's app (its `build(...)` result) on free ports, with HTTP clients for both
    ports and a vault on the same key store (the owner's database, the same key-encryption keys)."""
    async with serving_service(app) as served:
        key_store = PostgresSubjectKeyStore.with_own_pool(
            database_url, KeyEncryptionKeys.from_spec(key_encryption_keys)
        )
        await key_store.open()
        try:
            async with (
                httpx.AsyncClient(base_url=served.url, timeout=http_timeout) as client,
                httpx.AsyncClient(
                    base_url=served.management_url, timeout=http_timeout
                ) as management,
            ):
                yield Served(client, management, PersonalDataVault(key_store))
        finally:
            await key_store.close()


async def publish(bootstrap: str, topic: Topic, envelope: Envelope[Any], key: str) -> None:
    """One event on `topic`, as its producer would send it."""
    producer = make_producer(bootstrap, client_id="tests")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic.name, value=envelope.model_dump_json().encode(), key=key.encode()
        )
    finally:
        await producer.stop()


async def read_events(
    bootstrap: str,
    topic: Topic,
    model: type[P],
    done: Callable[[list[Envelope[P]]], bool],
    *,
    settle: float = 0.0,
    seconds: float = 60.0,
) -> list[Envelope[P]]:
    """Every event on `topic` from the start until `done(events)` holds (then `settle` seconds
    more, to see that nothing else follows)."""
    reader = make_reader(bootstrap)
    await reader.start()
    events: list[Envelope[P]] = []
    try:
        reader.subscribe([topic.name])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        settled_at: float | None = None
        while True:
            batch = await reader.getmany(timeout_ms=300)
            for records in batch.values():
                events += [Envelope[model].model_validate_json(r.value or b"") for r in records]  # type: ignore[valid-type]
            now = loop.time()
            if settled_at is None and done(events):
                settled_at = now
            if settled_at is not None and now - settled_at >= settle:
                return events
            if now > deadline:
                raise AssertionError(f"{topic.name}: condition not met in {seconds} s")
    finally:
        await reader.stop()
