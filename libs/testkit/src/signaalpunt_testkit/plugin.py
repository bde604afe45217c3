"""pytest plugin: the real Kafka broker and PostgreSQL for Signaalpunt's tests.

Fixtures
- `infra` (session): endpoints of the running local infrastructure (`make infra-up`). When it is not
  reachable the test fails under `CI=true` and is skipped elsewhere, with the reason. With
  `SIGNAALPUNT_TEST_START_INFRA=1` the plugin starts it through `deploy/local/infra.sh` and stops it
  again at the end of the session. With `SIGNAALPUNT_TEST_INFRA=testcontainers` (where a Docker
  engine runs) it starts Kafka and PostgreSQL through testcontainers instead (`containers.py`).
- `kafka_topics` (module): creates topics private to the test module (random prefix) and deletes
  them afterwards, so modules never see each other's messages.
- `database_url` (module): a fresh database private to the test module, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import asyncpg
import pytest
import pytest_asyncio
from signaalpunt_contracts import Topic, TopicRegistry, TopicSpec
from signaalpunt_runtime.broker_factory import make_admin
from signaalpunt_runtime.kafka_security import ADMIN
from signaalpunt_runtime.topic_admin import delete_topics, ensure_topics
from signaalpunt_runtime.topics_settings import TopicSettings

from . import workers
from .workers import repo_root as repo_root  # noqa: PLC0414 - the tests import it from here

# A pytest-xdist worker (`make test` runs several) takes its own Kafka and PostgreSQL, before any
# test module reads the endpoints: see workers.py.
workers.apply()
DEFAULT_KAFKA = "127.0.0.1:19092"
# Tests create private topics (random prefixes) that no registry ACL names: their services and
# tools connect as the local broker's admin principal, unless the environment names another.
# The ACL tests (tests/infra/test_kafka_acls.py) connect as the services' and partners' own.
os.environ.setdefault("SIGNAALPUNT_KAFKA_USERNAME", ADMIN)
DEFAULT_DATABASE = "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str
    """DSN of the project database on the test cluster; per-module databases sit beside it."""

    def database(self, name: str) -> str:
        return re.sub(r"/[^/]*$", f"/{name}", self.database_url)


async def _kafka_answers(bootstrap: str) -> str | None:
    admin = make_admin(bootstrap, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        await asyncio.wait_for(admin.describe_cluster(), 10)
    except Exception as exc:
        return (
            f"Kafka at {bootstrap} does not answer a metadata request ({type(exc).__name__}: {exc})"
        )
    finally:
        await admin.close()
    return None


async def _postgres_answers(dsn: str) -> str | None:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception as exc:
        return f"PostgreSQL does not answer ({type(exc).__name__}: {exc})"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return None


async def _problems(infra: Infra) -> list[str]:
    found = await asyncio.gather(
        _kafka_answers(infra.kafka_bootstrap), _postgres_answers(infra.database_url)
    )
    return [p for p in found if p]


def _unavailable(problems: list[str]) -> None:
    message = (
        "the real Kafka and PostgreSQL are needed: "
        + "; ".join(problems)
        + ". Start them with `make infra-up`."
    )
    if in_ci():
        pytest.fail(f"CI=true and infrastructure missing: {message}", pytrace=False)
    pytest.skip(message)


def _from_containers() -> Iterator[Infra]:
    """`SIGNAALPUNT_TEST_INFRA=testcontainers`: Kafka and PostgreSQL in containers for the
    session, with the registry's topics, as `make infra-up topics` gives the local ones."""
    from signaalpunt_contracts import REGISTRY  # noqa: PLC0415
    from signaalpunt_runtime.topics_settings import TopicSettings  # noqa: PLC0415

    from .containers import started_infra  # noqa: PLC0415 - needs a Docker engine

    # the container broker's admin is a static PLAIN user (as compose's)
    os.environ.setdefault("SIGNAALPUNT_KAFKA_SASL_MECHANISM", "PLAIN")
    with started_infra() as endpoints:
        infra = Infra(endpoints.kafka_bootstrap, endpoints.database_url)
        single_node = TopicSettings(replication_factor=1, min_insync_replicas=1)
        asyncio.run(
            ensure_topics(infra.kafka_bootstrap, REGISTRY.broker_topics(), settings=single_node)
        )
        problems = asyncio.run(_problems(infra))
        if problems:
            _unavailable(problems)
        yield infra


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with `slow` tests run first, the rest in their usual order. With several workers
    (`make test`, `--dist loadfile`) a module is handed to the next free worker: the minutes-long
    kill and outage modules left to the end would keep one worker busy while the other idles."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    from .containers import infra_mode  # noqa: PLC0415

    if infra_mode() == "testcontainers":
        yield from _from_containers()
        return
    endpoints = Infra(
        kafka_bootstrap=os.environ.get("SIGNAALPUNT_KAFKA_BOOTSTRAP", DEFAULT_KAFKA),
        database_url=os.environ.get("SIGNAALPUNT_DATABASE_URL", DEFAULT_DATABASE),
    )
    problems = asyncio.run(_problems(endpoints))
    started = False
    if problems and os.environ.get("SIGNAALPUNT_TEST_START_INFRA") == "1":
        script = repo_root() / "deploy" / "local" / "infra.sh"
        result = subprocess.run(  # noqa: S603 - the project's own script
            [str(script), "up"], capture_output=True, text=True, check=False
        )
        started = result.returncode == 0
        problems = asyncio.run(_problems(endpoints)) if started else [result.stderr[-2000:]]
    if problems:
        _unavailable(problems)
    yield endpoints
    if started:
        subprocess.run([str(repo_root() / "deploy/local/infra.sh"), "down"], check=False)  # noqa: S603


def _module_token(request: pytest.FixtureRequest) -> str:
    module = request.module.__name__.rsplit(".", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-")[:30]
    return f"{slug}-{uuid.uuid4().hex[:8]}"


class TopicFactory:
    """Creates module-private topics; everything it created is deleted after the module."""

    def __init__(self, infra: Infra, prefix: str) -> None:
        self._infra = infra
        self.prefix = prefix
        self.created: list[str] = []

    async def __call__(self, *names: str, partitions: int = 3) -> list[str]:
        """`await kafka_topics("orders", partitions=3)` → the real, module-private topic names."""
        real = [f"{self.prefix}.{name}" for name in names]
        await self._create([TopicSpec(n, partitions, {}) for n in real])
        return real

    async def private(self, base: Topic, name: str, *, consumers: tuple[str, ...] = ()) -> Topic:
        """A private copy of a registry topic (same model), created with its dead-letter topics."""
        topic = replace(base, name=f"{self.prefix}.{name}", consumers=consumers or base.consumers)
        await self._create(TopicRegistry((topic,)).broker_topics())
        return topic

    async def _create(self, specs: list[TopicSpec]) -> None:
        # the test broker is one node, whatever the environment asks of production topics
        single_node = TopicSettings(replication_factor=1, min_insync_replicas=1)
        await ensure_topics(self._infra.kafka_bootstrap, specs, settings=single_node)
        self.created.extend(s.name for s in specs)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def kafka_topics(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[TopicFactory]:
    factory = TopicFactory(infra, f"t-{_module_token(request)}")
    yield factory
    if factory.created:
        await delete_topics(infra.kafka_bootstrap, factory.created)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database of the module's own, so tests never see each other's tables or rows."""
    name = "t_" + _module_token(request).replace("-", "_")
    admin = await asyncpg.connect(infra.database("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield infra.database(name)
    admin = await asyncpg.connect(infra.database("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """The sum of `group`'s committed offsets over `topic`'s partitions (0 when none)."""
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)
