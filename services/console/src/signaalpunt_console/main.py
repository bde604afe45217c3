"""The console's composition root: `python -m signaalpunt_console.main`.

Two ports, as every service: the pages on the API port, `/livez` and `/readyz` on the
management port (the platform's probes; not for the internet)."""

from __future__ import annotations

from signaalpunt_runtime.logs import configure_logging
from signaalpunt_runtime.serving import ServiceApp, run
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .config import ConsoleSettings
from .web import build_app


def management(app_state: object) -> Starlette:
    async def livez(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        # the console keeps no state: it is ready when it serves; a service it calls that is
        # down is shown on the page that needs it (503 with Retry-After), not here
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/livez", livez), Route("/readyz", readyz)])


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
