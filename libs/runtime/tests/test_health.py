"""Health that means something, on a port of its own.

The API port serves the API only; /livez, /readyz, /startupz, /metrics and the docs are on the
management port. Liveness is the process and its event loop: a Kafka outage never fails it (a
restart would not bring Kafka back, it would only turn an outage into a restart loop). Readiness
is what the service needs: intake, whose outbox takes signals in while Kafka is down, is ready
with PostgreSQL alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.broker_factory import make_admin
from signaalpunt_runtime.http_api import install_problem_handlers
from signaalpunt_runtime.management_openapi import MANAGEMENT_DOCUMENT_PATH
from signaalpunt_runtime.serving import Served, serving
from signaalpunt_testkit.contract import PROBES_MAY_SAY_NOT_READY, contract_of
from signaalpunt_testkit.plugin import Infra, TopicFactory, repo_root

from .apps.counter_app import MIGRATIONS
from .helpers import eventually, settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service(
    database_url: str, kafka: str, schema: str, needs: tuple[str, ...] = ("postgres", "kafka")
) -> Service:
    return Service(
        settings_for(database_url, kafka, schema),
        title="Health (test app)",
        migrations=MIGRATIONS,
        needs=needs,
    )


def _api() -> FastAPI:
    api = FastAPI(title="health test")
    install_problem_handlers(api)

    @api.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return api


async def test_the_api_port_serves_the_api_only_and_the_management_port_the_rest(
    infra: Infra, database_url: str
) -> None:
    service = _service(database_url, infra.kafka_bootstrap, "health_ports")
    async with (
        serving(service.asgi_app(http=_api())) as served,
        httpx.AsyncClient(base_url=served.url, timeout=10) as api,
        httpx.AsyncClient(base_url=served.management_url, timeout=10) as management,
    ):
        assert served.port != served.management_port
        assert (await api.get("/v1/hello")).json() == {"hello": "world"}
        for path in (
            "/metrics",
            "/livez",
            "/readyz",
            "/startupz",
            "/health",
            "/docs",
            "/openapi.json",
            "/docs/asyncapi",
        ):
            answer = await api.get(path)
            assert answer.status_code == 404, f"{path} must not be on the API port"
            assert answer.headers["content-type"] == "application/problem+json"

        assert (await management.get("/livez")).json() == {"status": "ok"}
        assert (await management.get("/startupz")).status_code == 200
        ready = await management.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["kafka"] == "ok"
        assert ready.json()["checks"]["postgres"] == "ok"
        metrics = (await management.get("/metrics")).text
        # the API's requests are counted, and shown where the operator looks
        assert 'route="/v1/hello",status="200"' in metrics
        # the process and the interpreter, as an operator expects from any Python service
        for name in ("process_resident_memory_bytes", "python_info", "python_gc_objects_collected"):
            assert f"\n{name}" in metrics, f"no {name} in /metrics"
        assert (await management.get("/openapi.json")).json()["info"]["title"] == "health test"
        assert (await management.get("/docs")).status_code == 200
        assert (await management.get("/docs/asyncapi")).status_code == 200
        assert (await management.get("/v1/hello")).status_code == 404, "no API here"


async def test_a_kafka_outage_fails_readiness_of_who_needs_kafka_never_liveness(
    database_url: str, tmp_path: Path
) -> None:
    # a broker of the test's own (deploy/local/infra.sh on free ports), so that stopping it
    # disturbs no other test
    port = _free_port()
    env = {
        **os.environ,
        "SIGNAALPUNT_KAFKA_PORT": str(port),
        "SIGNAALPUNT_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "SIGNAALPUNT_KAFKA_TLS_PORT": str(_free_port()),  # its TLS listener too
        "SIGNAALPUNT_KAFKA_DIR": str(tmp_path / "kafka"),
        "SIGNAALPUNT_READY_TIMEOUT": "300",  # a loaded machine starts Kafka slowly
    }
    script = str(repo_root() / "deploy" / "local" / "infra.sh")

    def kafka(verb: str) -> None:
        result = subprocess.run(
            [script, verb, "kafka"], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr

    bootstrap = f"127.0.0.1:{port}"
    await asyncio.to_thread(kafka, "up")
    try:
        both = _service(database_url, bootstrap, "health_both")
        postgres_alone = _service(database_url, bootstrap, "health_pg", needs=("postgres",))
        async with (
            serving(both.asgi_app()) as served_both,
            serving(postgres_alone.asgi_app(http=_api())) as served_pg,
            httpx.AsyncClient(timeout=10) as client,
        ):

            async def status(served: Served, path: str) -> int:
                return (await client.get(f"{served.management_url}{path}")).status_code

            async def both_ready() -> bool:
                return await status(served_both, "/readyz") == 200

            # ready once the new broker answers its ping (3 s): at load 10 its first answers
            # came later ('kafka: no answer' twice in three runs, never alone)
            await eventually(both_ready, timeout=60, what="/readyz to pass with Kafka up")
            assert await status(served_pg, "/readyz") == 200
            pid = int((tmp_path / "kafka" / "kafka.pid").read_text())
            os.kill(pid, signal.SIGKILL)  # the broker dies

            async def both_unready() -> bool:
                return await status(served_both, "/readyz") == 503

            await eventually(both_unready, timeout=60, what="/readyz to fail without Kafka")
            answer = (await client.get(f"{served_pg.management_url}/readyz")).json()
            assert answer["status"] == "ok", answer
            assert answer["checks"]["kafka"] != "ok", "the outage is reported all the same"
            assert answer["checks"]["postgres"] == "ok"
            for served in (served_both, served_pg):
                assert await status(served, "/livez") == 200, "an outage is not a reason to restart"
            # intake's case: the API still takes work in while Kafka is away
            assert (await client.get(f"{served_pg.url}/v1/hello")).status_code == 200
    finally:
        await asyncio.to_thread(kafka, "down")


def test_readiness_needs_are_known_checks() -> None:
    settings = settings_for("postgresql://x@127.0.0.1:1/x", "127.0.0.1:1", "health_unknown")
    with pytest.raises(ValueError, match="redis"):
        Service(settings, title="x", needs=("redis",))


async def test_a_stop_while_the_consumers_still_start_leaves_no_member_and_no_relay(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> None:
    """FastStream reports the app started before its broker has started the consumers (one by
    one, a second or more each while the group rebalances). A stop in that window used to stop
    the consumers started so far while the start went on: the later ones stayed in the group,
    holding partitions, and a relay started after the stop published on."""
    service = _service(database_url, infra.kafka_bootstrap, "health_early_stop")
    group = service.settings.service_name
    for n in range(4):
        topic = await kafka_topics.private(PLATFORM_PROBE, f"early-stop-{n}.v1", consumers=(group,))

        async def handle(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
            del event, work

        service.consumer(topic)(handle)
    app = service.asgi_app()
    async with serving(app):
        assert not service.started  # the consumers are still being started: stop now
    assert service.relay is None or not service.relay.running

    admin = make_admin(infra.kafka_bootstrap)
    await admin.start()
    try:
        [described] = (await admin.describe_consumer_groups([group]))[0].to_object()["groups"]
    finally:
        await admin.close()
    assert described["members"] == []

    # the same service started again (a restart in one process) starts everything again
    async with serving(app):

        async def started() -> bool:
            return service.started

        await eventually(started, timeout=120, what="the restarted service's start")
        assert service.relay is not None
        assert service.relay.running


async def test_the_management_port_is_described_by_its_own_document_and_holds_to_it(
    infra: Infra, database_url: str
) -> None:
    # the platform routes were in no document: the API's describes the API port only
    service = _service(database_url, infra.kafka_bootstrap, "health_document")
    async with (
        serving(service.asgi_app(http=_api())) as served,
        httpx.AsyncClient(base_url=served.management_url, timeout=10) as management,
    ):
        document = (await management.get(MANAGEMENT_DOCUMENT_PATH)).json()
        assert set(document["paths"]) == {
            "/livez",
            "/readyz",
            "/startupz",
            "/metrics",
            "/docs/asyncapi",
            MANAGEMENT_DOCUMENT_PATH,
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
            "/docs/assets/{asset}",
        }
        api_document = (await management.get("/openapi.json")).json()
        assert not set(api_document["paths"]) & set(document["paths"])
        run = await contract_of(
            management,
            management,
            document=MANAGEMENT_DOCUMENT_PATH,
            max_examples=5,
            allowances=PROBES_MAY_SAY_NOT_READY,
        )
    assert run.clean, run.report()
    # every route; the document itself schemathesis may leave out (it read it already)
    documented = {f"GET {path}" for path in document["paths"]}
    assert documented - {f"GET {MANAGEMENT_DOCUMENT_PATH}"} <= run.operations <= documented
