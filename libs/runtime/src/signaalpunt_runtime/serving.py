"""Two ports per service: the API port serves the API only; the management port serves what an
operator and the platform need (/livez, /readyz, /startupz, /metrics, the OpenAPI and AsyncAPI
documents and their pages). A public ingress publishes the API port, nothing else: the metrics,
the health details and the docs are not for the internet.

One uvicorn server listens on both sockets with one app (`ServiceApp`): one lifespan (broker,
database, relay start once), one graceful shutdown on SIGTERM. A request goes to the management
face when it arrived on the management socket (`scope["server"]`, the local address), else to
the API face. A relay process (`ServiceSettings.role`) listens on the management socket alone; with
several workers per replica the sockets are bound here once and shared (`workers.py`).

    app = service.asgi_app(http=api)
    async with serving(app, host="127.0.0.1") as served:   # tests: both ports picked freely
        httpx.get(f"{served.management_url}/readyz")
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from faststream.asgi.types import ASGIApp, Receive, Scope, Send

STARTUP_FAILURE = 3  # uvicorn's own exit status when the app did not start

_servers: list[Any] = []
"""the uvicorn servers of this process (one under `run`; tests may serve more)"""


class StartAbandonedError(RuntimeError):
    """A stop was asked for (SIGTERM, SIGINT) while the start waited for a dependency."""


def stop_requested() -> bool:
    """Whether this process's server was asked to stop. uvicorn notes a SIGTERM, but acts on it
    only once the app has started: a start that waits for a dependency must look itself."""
    return any(server.should_exit for server in _servers)


async def wait_unless_stopping(seconds: float) -> None:
    """Sleep `seconds` (between two attempts to reach a dependency at start); end the start
    with `StartAbandonedError` as soon as a stop is asked for."""
    deadline = time.monotonic() + seconds
    while True:
        if stop_requested():
            raise StartAbandonedError("stopped while waiting for a dependency to start")
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.25))


@dataclass
class ServiceApp:
    """The service's ASGI app: `api` and `management` faces behind one lifespan (`core`).
    Callable as an ASGI app itself; which face answers depends on the socket a request came in
    on (`management_ports`, filled by `serving`/`run` with the bound management port)."""

    api: ASGIApp
    management: ASGIApp
    lifespan: ASGIApp
    management_ports: set[int] = field(default_factory=set)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        server = scope.get("server") or (None, None)
        if server[1] in self.management_ports:
            await self.management(scope, receive, send)
        else:
            await self.api(scope, receive, send)


@dataclass(frozen=True)
class Served:
    host: str
    port: int
    management_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    import uvicorn  # noqa: PLC0415

    return uvicorn.Config(app="unused:app", host=host, port=port, log_config=None).bind_socket()


def _server(app: ASGIApp, host: str, port: int, options: dict[str, Any]) -> Any:
    import uvicorn  # noqa: PLC0415

    from .service import server_options  # noqa: PLC0415

    limit = options.pop("max_header_bytes", 16 * 1024)
    config = server_options(host=host, port=port, max_header_bytes=limit) | options
    return uvicorn.Server(uvicorn.Config(app, **config))


def _sockets(
    app: ServiceApp, host: str, port: int | None, management_port: int
) -> list[socket.socket]:
    """The API socket (none when `port` is None: a relay process) and the management socket."""
    api = [] if port is None else [bind(host, port)]
    try:
        management = bind(host, management_port)
    except BaseException:
        for sock in api:
            sock.close()
        raise
    app.management_ports.add(int(management.getsockname()[1]))
    return [*api, management]


@asynccontextmanager
async def serving(
    app: ServiceApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    management_port: int = 0,
    **options: Any,
) -> AsyncIterator[Served]:
    """Serve `app` in the running event loop (its lifespan included) until the block ends."""
    sockets = _sockets(app, host, port, management_port)
    served = Served(host, int(sockets[0].getsockname()[1]), int(sockets[1].getsockname()[1]))
    server = _server(app, host, served.port, options)
    _servers.append(server)
    task = asyncio.create_task(server.serve(sockets=sockets))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.05)
        yield served
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            _servers.remove(server)  # its stop must not end another server's start
            for sock in sockets:
                sock.close()


def run(
    app: ServiceApp,
    *,
    host: str,
    port: int | None,
    management_port: int,
    workers: int = 1,
    **options: Any,
) -> None:
    """Serve `app` on its two ports (its management port alone when `port` is None) until
    SIGTERM/SIGINT (graceful shutdown); with `workers` above 1 in that many worker processes."""
    if workers > 1:
        from .workers import run_workers  # noqa: PLC0415 - only a supervisor needs it

        if port is None:
            raise ValueError("workers share an API port: a process without one has one worker")
        sys.exit(
            run_workers(
                app,
                host=host,
                port=port,
                management_port=management_port,
                workers=workers,
                **options,
            )
        )
    sockets = _sockets(app, host, port, management_port)
    server = _server(app, host, port if port is not None else management_port, options)
    _servers.append(server)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
