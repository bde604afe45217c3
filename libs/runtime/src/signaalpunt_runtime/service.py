"""The composition helper: one object wires a service together, so its `main` stays short.

    settings = IntakeSettings()
    service = Service(settings, title="Signal intake", migrations=HERE / "migrations")

    @service.consumer(PARTNER_SIGNALS)
    async def on_partner_signal(event: Envelope[PartnerSignalV1], work: UnitOfWork) -> None:
        ...
        await work.publish(SIGNALS_RECEIVED, work.new_event(received), key=str(signal_id))

    app = service.asgi_app()           # uvicorn signaalpunt_intake.main:app
    if __name__ == "__main__":
        service.run()

It builds the broker (no-loss defaults), the database pool on the service's own schema, applies the
migrations, starts the outbox relay, and serves the API on its API port and, on a management port
of its own (`serving.py`), `/livez` (the process and its event loop), `/readyz` (ready when what
the service `needs` answers; a paused consumer is reported and alerted on, never unready),
`/startupz`, `/metrics` (the service's own Prometheus registry) and the docs (OpenAPI, AsyncAPI
at `/docs/asyncapi`), with graceful shutdown on SIGTERM.

What a process does is its role (`ServiceSettings.role`): `all` of the above; `api` without the
relay (another process relays: the outbox waits for it); `relay` the relay alone, with the
management port (ready when the relay can reach PostgreSQL and Kafka), no API and no consumers.
With `http_workers` above 1 the process is a supervisor of that many workers (`workers.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Message, Receive, Scope, Send
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_asgi_app,
)
from signaalpunt_contracts import Topic

from .broker_factory import make_broker
from .consumer import (
    ConsumerStage,
    DeadLetterHook,
    Decoder,
    Handler,
    StageMetrics,
    UnitOfWork,
    unit_of_work,
)
from .database import create_pool
from .docs_pages import ASSETS, LocalAsyncAPIRoute, assets, redoc_page, swagger_page
from .failures import Backoff, Failure, classify, error_name
from .http_api import (
    DirectRoute,
    headers_too_large,
    headers_within,
    limit_body,
    method_not_allowed,
    not_found,
    too_large,
)
from .logs import configure_logging, get_logger
from .management_openapi import MANAGEMENT_DOCUMENT_PATH, management_document
from .migrations import upgrade_async
from .outbox import TRACE_CONTEXT, OutboxMetrics, OutboxRelay
from .pausing import SUMMARY_INTERVAL
from .serving import ServiceApp, wait_unless_stopping
from .serving import run as serve
from .settings import ServiceSettings
from .telemetry import Telemetry, setup_telemetry

log = get_logger(__name__)

STARTUP_WAIT = 20.0
"""Seconds a stop waits for a start still under way (see `stop_relay`)."""


class Service:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        title: str,
        version: str = "0.1.0",
        description: str = "",
        migrations: Path | None = None,
        shared_migrations: Sequence[tuple[Path, str]] = (),
        telemetry: Telemetry | None = None,
        needs: Sequence[str] = ("postgres", "kafka"),
    ) -> None:
        """`needs`: what this service must reach to do its work, the checks that make /readyz
        fail ("postgres", "kafka"). Intake needs PostgreSQL alone: its outbox takes signals in
        while Kafka is down. The other checks are reported in /readyz's body all the same."""
        unknown = set(needs) - {"postgres", "kafka"}
        if unknown:
            raise ValueError(f"unknown readiness needs: {sorted(unknown)}")
        self.role = settings.role
        # a relay process is there to move the outbox to Kafka: it needs both, whatever the
        # service's API needs
        self.needs = ["postgres", "kafka"] if self.role == "relay" else list(needs)
        self.started = False
        self._broker_starting = False
        self._startup_done = asyncio.Event()
        self._stopping = False
        self.settings = settings
        self.title = title
        self.version = version
        self.description = description
        self.migrations = migrations
        # schemas this service uses but does not own, e.g. the subject key store (libs/privacy)
        self.shared_migrations = tuple(shared_migrations)
        configure_logging(settings.service_name, settings.log_level, instance=settings.instance)
        self.telemetry = telemetry or setup_telemetry(
            settings.service_name, settings.instance, settings.otlp_endpoint
        )
        self.metrics = CollectorRegistry()
        # the process itself (CPU, memory, open files, start time), the interpreter and its
        # garbage collector: a private registry has none of them unless they are added
        ProcessCollector(registry=self.metrics)
        PlatformCollector(registry=self.metrics)
        GCCollector(registry=self.metrics)
        self.broker: KafkaBroker = make_broker(
            bootstrap=settings.kafka_bootstrap,
            client_id=settings.service_name,
            tracer_provider=self.telemetry.tracer_provider,
            meter_provider=self.telemetry.meter_provider,
            metrics_registry=self.metrics,
            description=description or title,
            security=settings.kafka_security,
        )
        self._stage_metrics = StageMetrics(self.metrics)
        self._http_requests = Histogram(
            "signaalpunt_http_request_duration_seconds",
            "HTTP requests to the service's API, by method, route template and status",
            ["method", "route", "status"],
            registry=self.metrics,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # an `api` process never relays: without the relay's series (relay active 0, backlog 0)
        # "no replica relays" is judged by the processes that can (SignaalpuntNoOutboxRelay)
        self._outbox_metrics = OutboxMetrics(self.metrics) if self.role != "api" else None
        self.stages: list[ConsumerStage] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []

    def also_start(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        """Open and close a resource of the service's own (e.g. the key store's pool) with it.
        Resources start in the order given and stop in reverse, so one that uses another (a
        sender using the key store) stops before what it uses."""
        self._on_start.append(start)
        self._on_stop.append(stop)

    # -- building blocks ---------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database pool exists only while the service runs")
        return self._pool

    def consumer(
        self,
        topic: Topic,
        *,
        group: str | None = None,
        batch_size: int | None = None,
        as_list: bool = False,
        decode: Decoder | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        urgent: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for `topic` in consumer group `group` (default: the service name).

        With `batch_size`, up to that many events are handled in one database transaction
        (higher throughput for bursts; each event is still deduplicated on its own). With
        `as_list` as well, the handler is called once per batch with the list of its new events
        (so it can store them with one statement per table), and with a one-event list when a
        failed batch is handled one by one; its unit of work has no event that caused it, so
        new events name their municipality.
        `decode` replaces the envelope decoding (e.g. intake's `partner_events.partner_decoder`
        for partner topics); `on_dead_letter(record, error, work)` is called for every message
        refused for its own fault, before it is parked, in a transaction of its own: what it
        publishes (the sender's rejection) goes through the outbox, once per message.
        A batch consumer lets its events gather for a moment (`batch_fetch_min_bytes`, at most
        `batch_fetch_max_wait_ms`) so that a steady stream comes in batches too; an `urgent` one
        (the acute lane) takes every event the moment it is there.
        """
        group = group or self.settings.service_name
        if group not in topic.consumers:
            raise ValueError(
                f"{group!r} is not a registered consumer of {topic.name}; add it to the registry"
            )

        def register(handler: Handler) -> Handler:
            if self.role == "relay":  # a relay process joins no consumer group
                return handler
            stage: ConsumerStage = ConsumerStage(
                topic=topic,
                group=group,
                handler=handler,
                batch_size=batch_size,
                as_list=as_list,
                decode=decode,
                on_dead_letter=on_dead_letter,
                urgent=urgent,
                pool=lambda: self.pool,
                broker=self.broker,
                settings=self.settings,
                metrics=self._stage_metrics,
                tracer=self.telemetry.tracer_provider.get_tracer("signaalpunt.consumer"),
            )
            stage.register()
            self.stages.append(stage)
            return handler

        return register

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """For HTTP requests and jobs: state change and outbox events in one transaction."""
        async with unit_of_work(self.pool, self.settings) as work:
            yield work

    # -- lifecycle ---------------------------------------------------------------------------

    async def start_database(self) -> None:
        # the first step of a start (also of a start after a stop: tests restart a service)
        self.started = False
        self._stopping = False
        self._broker_starting = False
        self._startup_done.clear()
        await self._wait_for_database()
        # the service's own resources (group commits, jobs, caches) serve its API and consumers,
        # which a relay process does not run
        for start in self._on_start if self.role != "relay" else ():
            await start()
        self._broker_starting = True  # the broker starts its consumers next

    async def _wait_for_database(self) -> None:
        """Migrate and open the pool; while PostgreSQL is unavailable, wait and try again.

        A service (re)started during a database outage must come up when the database does, not
        exit: under `make run` nobody would start it again, and under Kubernetes a crash loop
        only adds delay. Anything that is not a dependency failure (a bad migration, a wrong
        password) still stops the start, and so does a stop (SIGTERM) asked for meanwhile. One
        line when it starts waiting, one a minute after."""
        backoff = Backoff(0.5, self.settings.pause_max_delay)
        waiting_since: float | None = None
        next_summary = 0.0
        while True:
            try:
                await self._migrate_and_open_pool()
            except Exception as exc:
                if classify(exc) is not Failure.DEPENDENCY:
                    raise
                now = time.monotonic()
                if waiting_since is None or now >= next_summary:
                    log.warning(
                        "waiting for the database to start",
                        error=error_name(exc),
                        waited_seconds=round(now - (waiting_since or now), 1),
                    )
                    waiting_since = waiting_since or now
                    next_summary = now + SUMMARY_INTERVAL
                # a SIGTERM while waiting ends the start (uvicorn acts on it only after one)
                await wait_unless_stopping(backoff.next())
                continue
            if waiting_since is not None:
                log.warning(
                    "database answered; starting",
                    waited_seconds=round(time.monotonic() - waiting_since, 1),
                )
            return

    async def _migrate_and_open_pool(self) -> None:
        dsn = self.settings.database_url.get_secret_value()
        if self.settings.migrate_on_start:
            for path, schema in self.shared_migrations:
                await upgrade_async(path, dsn, schema)
            if self.migrations is not None:
                await upgrade_async(self.migrations, dsn, self.settings.schema_name)
        # a relay process uses the pool for its readiness check only (the relay has a
        # connection of its own)
        size = 1 if self.role == "relay" else self.settings.database_pool_size
        self._pool = await create_pool(dsn, self.settings.schema_name, size=size)

    async def start_relay(self) -> None:
        if self._stopping or self._outbox_metrics is None:
            # a stop came while the broker started: nothing new starts now; or this is an
            # `api` process: it only writes the outbox, a process in role `relay` publishes it
            self._startup_done.set()
            return
        self.relay = OutboxRelay(
            dsn=self.settings.database_url.get_secret_value(),
            schema=self.settings.schema_name,
            bootstrap=self.settings.kafka_bootstrap,
            client_id=f"{self.settings.service_name}-outbox",
            tracer=self.telemetry.tracer_provider.get_tracer("signaalpunt.outbox"),
            metrics=self._outbox_metrics,
            batch_size=self.settings.outbox_batch_size,
            poll_interval=self.settings.outbox_poll_interval,
            linger=self.settings.outbox_linger,
            keep_published_days=self.settings.outbox_keep_published.total_seconds() / 86400,
            keep_inbox_days=self.settings.inbox_keep.total_seconds() / 86400,
        )
        self.relay.start()
        self._startup_done.set()  # the broker has started (the relay starts after it)

    async def _mark_started(self) -> None:
        self.started = True
        self._startup_done.set()

    async def stop_relay(self) -> None:
        """First shutdown step: commit the handled offsets while the consumers still exist.

        FastStream reports the app started before its broker has started the consumers (each
        waits for its group's assignment). A stop in that window would
        stop the consumers started so far, and the start would go on: a consumer started after
        the broker's stop stays in its group (holding partitions, heartbeating) and a relay
        started after this step publishes on. So the stop first lets the start end, within
        `STARTUP_WAIT` (a start that hangs, e.g. on a broker that is down, is not waited for).
        """
        self._stopping = True
        if self._broker_starting and not self._startup_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._startup_done.wait(), STARTUP_WAIT)
        for stage in self.stages:
            await stage.close()
            await stage.offsets.close()
        if self.relay is not None:
            await self.relay.stop()

    async def stop_database(self) -> None:
        stops = reversed(self._on_stop) if self.role != "relay" else ()
        for stop in stops:  # last started, first stopped
            await stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.telemetry.shutdown()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Readiness (/readyz): whether every one of `needs` answers, and what was checked."""
        checks: dict[str, Any] = {}
        checks["kafka"] = "ok" if await self.broker.ping(timeout=3) else "no answer"
        try:
            if self._pool is None:
                raise RuntimeError("not started")
            await asyncio.wait_for(self._pool.fetchval("SELECT 1"), 3)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"{type(exc).__name__}"
        # a paused stage waits for a dependency or a fix and resumes by itself: reported here
        # and alerted on (signaalpunt_consumer_paused), never a reason to restart the process
        paused = {
            f"{s.topic.name}:{s.group}": state
            for s in self.stages
            if (state := s.pausing.describe()) is not None
        }
        if paused:
            checks["paused_consumers"] = paused
        # informational (never a reason to be unready): a standby relay waits for the lock, and
        # with role `api` another process relays
        checks["outbox_relay"] = (
            "elsewhere"
            if self.role == "api"
            else "active"
            if self.relay and self.relay.active
            else "standby"
        )
        # informational: a replica may rightly hold no partitions (more replicas than
        # partitions), so an empty assignment does not make the service unhealthy
        checks["consumers"] = {
            f"{s.topic.name}:{s.group}": len(s.listener.assigned) for s in self.stages
        }
        return all(checks[need] == "ok" for need in self.needs), checks

    def _management_core(self, extra_routes: Sequence[tuple[str, ASGIApp]]) -> AsgiFastStream:
        """The management routes, the AsyncAPI docs and the lifespan (FastStream's ASGI app)."""

        def answer(ok: bool, body: dict[str, Any]) -> AsgiResponse:
            return AsgiResponse(
                json.dumps(body).encode(),
                200 if ok else 503,
                headers={"content-type": "application/json"},
            )

        @get(include_in_schema=False)
        async def livez(scope: Scope) -> AsgiResponse:
            # answered by the event loop itself: a blocked loop or a dead process fails it; a
            # dependency that is down never does (a restart would not bring it back)
            return answer(True, {"status": "ok"})

        @get(include_in_schema=False)
        async def startupz(scope: Scope) -> AsgiResponse:
            return answer(self.started, {"status": "ok" if self.started else "starting"})

        @get(include_in_schema=False)
        async def readyz(scope: Scope) -> AsgiResponse:
            ok, checks = await self.health()
            return answer(
                ok,
                {"status": "ok" if ok else "unavailable", "needs": self.needs, "checks": checks},
            )

        return AsgiFastStream(
            self.broker,
            # a logger of our own: FastStream's default one prints coloured text, not JSON
            logger=logging.getLogger("signaalpunt.lifecycle"),
            asgi_routes=[
                ("/livez", livez),
                ("/readyz", readyz),
                ("/startupz", startupz),
                ("/metrics", make_asgi_app(self.metrics)),
                *extra_routes,
            ],
            specification=AsyncAPI(
                self.broker, title=self.title, version=self.version, description=self.description
            ),
            # no "try it out": nobody may publish onto a topic through the docs page; the
            # page's assets from the service itself (docs_pages), not from a CDN
            asyncapi_path=LocalAsyncAPIRoute("/docs/asyncapi"),
            on_startup=[self.start_database],
            after_startup=[self.start_relay, self._mark_started],
            on_shutdown=[self.stop_relay],
            after_shutdown=[self.stop_database],
        )

    def _management_document(self, http: FastAPI | None) -> ASGIApp:
        """The management port's own OpenAPI document (`management_openapi`) as a route."""
        openapi_url = http.openapi_url if http is not None else None
        document = json.dumps(
            management_document(
                title=self.title,
                version=self.version,
                api_documents=[openapi_url] if openapi_url else [],
                api_pages=sorted(_docs_paths(http) - {openapi_url}),
            )
        ).encode()

        @get(include_in_schema=False)
        async def management_openapi(scope: Scope) -> AsgiResponse:
            return AsgiResponse(document, 200, headers={"content-type": "application/json"})

        return management_openapi

    # -- the ASGI app ------------------------------------------------------------------------

    def asgi_app(
        self,
        *,
        http: FastAPI | None = None,
        extra_routes: Sequence[tuple[str, ASGIApp]] = (),
        direct: Sequence[tuple[str, str]] = (),
    ) -> ServiceApp:
        """The service as one ASGI app with two faces (`serving.ServiceApp`): the API port
        serves `http` (a FastAPI app) and nothing else; the management port serves /livez,
        /readyz, /startupz, /metrics, the AsyncAPI docs (`/docs/asyncapi`), `http`'s OpenAPI
        document and docs pages, and `extra_routes`. The lifespan stays the service's.
        The (method, path) routes in `direct` are `http`'s own, served as a `DirectRoute`."""

        docs_paths = _docs_paths(http)
        core = self._management_core(
            [(MANAGEMENT_DOCUMENT_PATH, self._management_document(http)), *extra_routes]
        )
        limits = (self.settings.max_header_bytes, self.settings.max_header_count)
        management = _management_face(core, http, docs_paths)

        def face(app: ASGIApp) -> ServiceApp:
            return ServiceApp(
                api=_headers_limited(app, *limits),
                # the platform routes (/livez, /readyz, /startupz, /metrics, the AsyncAPI
                # page) answer only GET and HEAD
                management=_headers_limited(
                    management, *limits, read_only=[path for path, _ in core.routes]
                ),
                lifespan=core,
                management_ports={self.settings.management_port},
            )

        if http is None or self.role == "relay":  # a relay process serves no API
            return face(_no_api)
        requests = self._http_requests
        by_labels: dict[tuple[str, str, int], Histogram] = {}
        max_body = self.settings.max_request_bytes
        served_directly: dict[tuple[str, str], ASGIApp] = {
            (method, path): DirectRoute(http, method, path) for method, path in direct
        }

        tracer = self.telemetry.tracer_provider.get_tracer("signaalpunt.http")

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope.get("path") in docs_paths:  # the docs are on the management port only
                if scope["type"] == "http":
                    await not_found(scope["path"])(scope, receive, send)
                return
            if scope["type"] != "http":
                await http(scope, receive, send)
                return
            # a SERVER span per request: its log lines and the events it writes carry its trace
            # id; a caller's `traceparent` is continued. Started by hand: OpenTelemetry's ASGI
            # middleware added 0.95 M CPU instructions per request on intake, this span (with the
            # trace context it gives the request's event) 0.27 M
            method = scope["method"]
            caller = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in scope["headers"]
                if k in (b"traceparent", b"tracestate")
            }
            with tracer.start_as_current_span(
                method,
                context=TRACE_CONTEXT.extract(caller) if caller else None,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method},
                # an exception's message may quote input: the span gets the status, the log
                # line (without input) the exception
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                await observed(scope, receive, send, span)

        async def observed(scope: Scope, receive: Receive, send: Send, span: Span) -> None:
            status = 500  # what the client sees when the app fails before answering
            started = time.perf_counter()

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            app = served_directly.get((scope["method"], scope["path"]), http)
            try:
                declared = next(
                    (v for k, v in scope["headers"] if k == b"content-length"), b""
                )  # uvicorn hands header names over in lower case
                if declared.isdigit() and int(declared) > max_body:
                    await too_large(max_body, scope["path"])(scope, receive, send_and_note)
                else:
                    await app(scope, limit_body(receive, max_body), send_and_note)
            finally:
                # the route template (/v1/signals/{signal_id}/status), never the path itself:
                # paths carry ids; unmatched paths are one label value, not one per guess
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                labels = (scope["method"], route, status)
                child = by_labels.get(labels)
                if child is None:  # looked up once per label set: `labels()` costs per call
                    child = by_labels[labels] = requests.labels(scope["method"], route, str(status))
                child.observe(time.perf_counter() - started)

        return face(dispatch)

    def run(
        self,
        app: ServiceApp | None = None,
        *,
        port: int | None = None,
        management_port: int | None = None,
    ) -> None:
        """Serve the app on its API and management ports (SIGTERM/SIGINT → graceful shutdown):
        a relay process on its management port alone; with `http_workers` above 1 in that many
        worker processes (`workers.py`)."""
        # Everything built at start-up (the app, the models, the imported modules) is moved out
        # of the collector's sight, and the youngest generation is collected per 50,000 new
        # objects instead of 700: a request makes some thousands of short-lived objects that
        # reference counting frees anyway. On intake's POST /v1/signals this saved about 5 % of
        # the CPU instructions per signal; memory stays bounded by the (larger) threshold.
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        serve(
            app if app is not None else self.asgi_app(),
            host=self.settings.http_host,
            port=None
            if self.role == "relay"
            else port
            if port is not None
            else self.settings.http_port,
            management_port=(
                management_port if management_port is not None else self.settings.management_port
            ),
            workers=self.settings.http_workers,
            max_header_bytes=self.settings.max_header_bytes,
        )


async def _no_api(scope: Scope, receive: Receive, send: Send) -> None:
    """The API port of a service without an API (metrics): nothing there."""
    if scope["type"] == "http":
        await not_found(scope["path"])(scope, receive, send)


def _docs_paths(http: FastAPI | None) -> set[str]:
    """The FastAPI app's OpenAPI document and docs pages: served on the management port."""
    if http is None:
        return set()
    paths = (http.openapi_url, http.docs_url, http.redoc_url, http.swagger_ui_oauth2_redirect_url)
    return {p for p in paths if p}


def _management_face(core: AsgiFastStream, http: FastAPI | None, docs_paths: set[str]) -> ASGIApp:
    own_paths = {path for path, _ in core.routes}
    # the docs pages with their assets served here (FastAPI's own load them from CDNs)
    pages: dict[str, ASGIApp] = {}
    if http is not None and http.docs_url:
        pages[http.docs_url] = swagger_page(http)
    if http is not None and http.redoc_url:
        pages[http.redoc_url] = redoc_page(http)
    files = assets()

    async def management(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") or ""
        if path in own_paths:
            await core(scope, receive, send)
        elif path in pages and scope["type"] == "http":
            page = pages[path]
            if scope["method"] not in ("GET", "HEAD"):
                page = method_not_allowed(path, ("GET", "HEAD"))
            await page(scope, receive, send)
        elif path.startswith(f"{ASSETS}/") and scope["type"] == "http":
            await files(scope, receive, send)
        elif http is not None and path in docs_paths:
            await http(scope, receive, send)
        elif scope["type"] == "http":
            await not_found(scope["path"])(scope, receive, send)

    return management


def _headers_limited(
    app: ASGIApp, max_bytes: int, max_count: int, *, read_only: Iterable[str] = ()
) -> ASGIApp:
    """`app` behind the header limits, for every route (the service's own included): a request
    with an 8 MiB header is answered with a short 431 problem, not handed on. The `read_only`
    paths (the management port's /livez, /readyz, /metrics, the AsyncAPI page) answer any method
    but GET and HEAD with a 405 problem (they answered a TRACE with the metrics)."""
    read_only = frozenset(read_only)

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not headers_within(scope, max_bytes, max_count):
            await headers_too_large(scope["path"], max_bytes, max_count)(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and scope["path"] in read_only
            and scope["method"] not in ("GET", "HEAD")
        ):
            await method_not_allowed(scope["path"], ("GET", "HEAD"))(scope, receive, send)
            return
        await app(scope, receive, send)

    return limited


def server_options(*, host: str, port: int, max_header_bytes: int = 16 * 1024) -> dict[str, Any]:
    """uvicorn's options for every service (and every test that serves one the same way)."""
    return {
        "host": host,
        "port": port,
        "log_config": None,  # keep our JSON logging
        "timeout_graceful_shutdown": 30,
        # the client's address is settled by the app from the trusted proxies it is configured
        # with (`client_address`); uvicorn's own rewriting would believe any X-Forwarded-For
        # sent from 127.0.0.1, a sidecar or anyone else on `forwarded_allow_ips`
        "proxy_headers": False,
        # h11 (when used) refuses a larger request head before reading it all
        "h11_max_incomplete_event_size": max_header_bytes * 2,
        # keep an idle connection open longer than the clients and proxies in front of us do
        # (httpx and most load balancers: 5-60 s). With uvicorn's 5 s default the server closes
        # it just as a client reuses it, and that request fails with a connection reset (seen
        # as httpx.ReadError under load). The side that keeps it longest must be the server.
        "timeout_keep_alive": 75,
    }
