"""The console's composition root: `python -m signaalpunt_console.main`.

Two ports, as every service: the pages on the API port, `/livez`, `/readyz`, `/startupz` and
`/metrics` on the management port (the platform's probes and Prometheus; not for the internet)."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    make_asgi_app,
)
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.serving import ServiceApp, run
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from .config import ConsoleSettings
from .web import build_app


def management(app_state: object) -> Starlette:
    async def livez(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        # the console keeps no state: it is ready when it serves; a service it calls that is
        # down is shown on the page that needs it (503 with Retry-After), not here
        return JSONResponse({"status": "ok"})

    # the process's own figures (CPU, memory, open files, garbage collection): the console keeps
    # no data, so it has no business figures of its own; what staff do is counted by the services
    registry = CollectorRegistry(auto_describe=True)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            # nothing to wait for at start (no migrations, no consumers): started is ready
            Route("/startupz", readyz),
            Mount("/metrics", make_asgi_app(registry)),
        ]
    )


def build(settings: ConsoleSettings) -> ServiceApp:
    pages = build_app(settings)
    return ServiceApp(api=pages, management=management(pages.state), lifespan=pages)


def create_app() -> ServiceApp:
    """For `uvicorn --factory signaalpunt_console.main:create_app`."""
    return build(ConsoleSettings())


if __name__ == "__main__":
    settings = ConsoleSettings()
    configure_logging(settings.service_name, "INFO", instance="local")
    run(
        build(settings),
        host=settings.http_host,
        port=settings.http_port,
        management_port=settings.management_port,
    )
