"""Several worker processes per replica (`ServiceSettings.http_workers`): one Python process
serves one core at most, and intake's requests are CPU-bound.

The supervisor binds the API socket once and forks the workers, which all accept on it (the
kernel hands each new connection to one of them). Each worker is the whole service in its role:
its own event loop, database pool, group commits and consumers (they join the same consumer
group, so Kafka spreads the partitions over them), and with role `all` its own relay, of which
one per schema is active (the advisory lock), as across replicas.

The management port is the supervisor's own. Each worker serves its management face on a
loopback port of its own (bound here, never published); the supervisor answers

- /livez, /startupz and /readyz by asking every worker: 200 when every worker says so, with each
  worker's answer in the body (a worker that does not answer in time fails them);
- /metrics with every worker's metrics, each series labelled `worker="1"`…`worker="N"` (sum
  them for the replica: `sum without (worker) (...)`), plus `signaalpunt_http_worker_up{worker}`
  (0 when a worker did not answer the scrape). Per-process registries rather than
  prometheus_client's multiprocess mode: that mode needs its directory before the first metric
  exists and does not cover the collectors the service registers (process, FastStream's);
- everything else (the documents and their pages) as the first worker answers it.

Stop: SIGTERM or SIGINT to the supervisor is passed to every worker as SIGTERM, each stops
gracefully (as a single process does), and the supervisor exits 0 when all have. The workers
have a process group of their own, so a Ctrl-C in a terminal reaches them only through it.

A worker that dies (or fails to start) is not restarted: the supervisor stops the others and the
replica exits non-zero (the worker's exit status; 128 + the signal for one killed by a signal).
A replica with one worker fewer would serve on at a fraction of its capacity while looking
healthy; a replica that exits is restarted whole by whoever runs it (Kubernetes, compose).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.asgi.types import Receive, Scope, Send
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from .logs import get_logger
from .serving import STARTUP_FAILURE, ServiceApp, _server, bind

log = get_logger(__name__)

PROBE_TIMEOUT = 8.0
"""Seconds the supervisor waits for a worker's answer (its /readyz checks take up to 3 s each)."""

PROBES = ("/livez", "/startupz", "/readyz")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Answer:
    """A worker's answer to one request from the supervisor (status 0: no answer)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


# -- pure logic --------------------------------------------------------------------------------


def combined_probe(answers: dict[str, Answer]) -> tuple[bool, dict[str, Any]]:
    """/livez, /startupz or /readyz of the replica from its workers' answers: ok when every
    worker answered 200; the body keeps each worker's own answer (its checks, or why not)."""
    workers: dict[str, Any] = {}
    for worker, answer in answers.items():
        try:
            workers[worker] = json.loads(answer.body) if answer.status else "no answer"
        except ValueError:
            workers[worker] = f"HTTP {answer.status}"
    ok = all(answer.status == 200 for answer in answers.values())
    return ok, {"status": "ok" if ok else "unavailable", "workers": workers}


def combined_metrics(answers: dict[str, Answer]) -> bytes:
    """The workers' metrics as one exposition, each series labelled with its worker, plus
    `signaalpunt_http_worker_up`. A family's series from all workers stay together, as the text
    format requires."""
    families: dict[str, Metric] = {}
    up = GaugeMetricFamily(
        "signaalpunt_http_worker_up",
        "1 when the worker process answered this scrape (its series are labelled worker)",
        labels=["worker"],
    )
    for worker, answer in answers.items():
        answered = answer.status == 200
        up.add_metric([worker], 1 if answered else 0)
        if not answered:
            continue
        for family in text_string_to_metric_families(answer.body.decode()):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            merged.samples.extend(
                sample._replace(labels={**sample.labels, "worker": worker})
                for sample in family.samples
            )
    return generate_latest(_Families([*families.values(), up]))


def exit_status(wait_status: int) -> int:
    """A process's exit status as a shell reports it (128 + the signal that killed it)."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


class _Families(CollectorRegistry):
    def __init__(self, families: Sequence[Metric]) -> None:
        super().__init__(auto_describe=False)
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


# -- the workers -------------------------------------------------------------------------------


def run_workers(
    app: ServiceApp,
    *,
    host: str,
    port: int,
    management_port: int,
    workers: int,
    **options: Any,
) -> int:
    """Serve `app` in `workers` processes until SIGTERM/SIGINT; the replica's exit status."""
    api = bind(host, port)
    management = bind(host, management_port)
    # the workers' own management faces, on loopback: the supervisor asks them, nobody else
    private = [bind("127.0.0.1", 0) for _ in range(workers)]
    private_ports = [int(sock.getsockname()[1]) for sock in private]
    app.management_ports.update(private_ports)
    pids: dict[int, str] = {}
    # a stop asked for while the workers start waits for the supervisor's handlers (else it
    # would end the supervisor alone and leave the workers running)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for index, own in enumerate(private, start=1):
        pid = os.fork()
        if pid == 0:  # the worker
            for sock in (management, *private):
                if sock is not own:
                    sock.close()
            os._exit(
                _serve_worker(
                    app,
                    worker=str(index),
                    host=host,
                    port=port,
                    sockets=[api, own],
                    options=options,
                )
            )
        pids[pid] = str(index)
    for sock in (api, *private):
        sock.close()  # the workers hold them; the supervisor accepts on its own port only
    log.info("workers started", workers=workers)
    ports = {worker: private_ports[int(worker) - 1] for worker in pids.values()}
    return asyncio.run(_supervise(pids, ports, management, host, options))


def _serve_worker(
    app: ServiceApp,
    *,
    worker: str,
    host: str,
    port: int,
    sockets: list[socket.socket],
    options: dict[str, Any],
) -> int:
    # signals reach a worker through the supervisor only (not a terminal's Ctrl-C beside it)
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    structlog.contextvars.bind_contextvars(worker=worker)  # on every log line of this worker
    try:
        server = _server(app, host, port, dict(options))
        server.run(sockets=sockets)
    except BaseException:
        log.exception("worker failed")
        return 1
    return 0 if server.started else STARTUP_FAILURE


async def _supervise(
    pids: dict[int, str],
    ports: dict[str, int],
    management: socket.socket,
    host: str,
    options: dict[str, Any],
) -> int:
    loop = asyncio.get_running_loop()
    stop, changed = asyncio.Event(), asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGCHLD, changed.set)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # one that came meanwhile: now
    server = _management_server(SupervisorApp(ports), host, management, options)
    serving = asyncio.create_task(server.serve(sockets=[management]))
    running = dict(pids)
    failure = 0
    while running and not stop.is_set():
        changed.clear()
        for worker, status in _reaped(running):
            failure = failure or status or 1
            log.error("worker exited; stopping the replica", worker=worker, exit_status=status)
        if failure:
            break
        waiting = [asyncio.create_task(stop.wait()), asyncio.create_task(changed.wait())]
        _, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while running:  # each stops gracefully (uvicorn's own shutdown, then the service's)
        changed.clear()
        for worker, status in _reaped(running):
            # after its graceful stop a worker ends by the SIGTERM it was sent (as uvicorn
            # re-raises it): asked for, so no failure
            if status not in (0, 128 + signal.SIGTERM):
                failure = failure or status
                log.error("worker stopped with an error", worker=worker, exit_status=status)
        if running:
            await changed.wait()
    server.should_exit = True
    await serving
    log.info("workers stopped", exit_status=failure)
    return failure


def _reaped(running: dict[int, str]) -> list[tuple[str, int]]:
    """The workers that have exited since the last look (removed from `running`), with their
    exit status."""
    done = []
    for pid in list(running):
        with contextlib.suppress(ChildProcessError):
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited == 0:
                continue
            done.append((running.pop(pid), exit_status(status)))
    return done


def _management_server(
    app: SupervisorApp, host: str, sock: socket.socket, options: dict[str, Any]
) -> Any:
    import uvicorn  # noqa: PLC0415

    from .service import server_options  # noqa: PLC0415

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the supervisor's own handlers stop the workers first

    port = int(sock.getsockname()[1])
    limit = options.get("max_header_bytes", 16 * 1024)
    config = server_options(host=host, port=port, max_header_bytes=limit) | {"lifespan": "off"}
    return Server(uvicorn.Config(app, **config))


class SupervisorApp:
    """The replica's management port: the workers' answers, combined (module docstring)."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if (path in PROBES or path == "/metrics") and method in ("GET", "HEAD"):
            answers = await self._ask_all(method, path)
            if path == "/metrics":
                body, status = combined_metrics(answers), 200
                content_type = b"text/plain; version=0.0.4; charset=utf-8"
            else:
                ok, combined = combined_probe(answers)
                body, status = json.dumps(combined).encode(), 200 if ok else 503
                content_type = b"application/json"
            await _respond(send, status, [(b"content-type", content_type)], body)
            return
        # the documents and their pages (and any refusal, e.g. a 405): every worker serves the
        # same ones
        request = await _body(receive)
        target = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        first = self.ports[min(self.ports, key=int)]
        answer = await ask(first, method, target, request, scope["headers"])
        if not answer.status:
            await _respond(send, 503, [(b"content-type", b"text/plain")], b"no worker answered")
            return
        await _respond(send, answer.status, answer.headers, answer.body)

    async def _ask_all(self, method: str, path: str) -> dict[str, Answer]:
        workers = sorted(self.ports, key=int)
        answers = await asyncio.gather(*(ask(self.ports[w], "GET", path) for w in workers))
        return dict(zip(workers, answers, strict=True))


async def ask(
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> Answer:
    """One request to a worker's management face on loopback, on a connection of its own (the
    answer ends with it); no answer within `PROBE_TIMEOUT` is status 0."""
    passed = [(k, v) for k, v in headers if k not in _HOP_BY_HOP]
    request_line = f"{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
    head = request_line.encode() + b"connection: close\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in passed)
    head += f"content-length: {len(body)}\r\n\r\n".encode()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(head + body)
                response = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return Answer(0, [], b"")
    head_bytes, _, content = response.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return Answer(0, [], b"")
    answer_headers, chunked = [], False
    for line in lines:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        chunked = chunked or (name == b"transfer-encoding" and value.lower() == b"chunked")
        if name not in _HOP_BY_HOP:
            answer_headers.append((name, value))
    return Answer(int(parts[1]), answer_headers, dechunked(content) if chunked else content)


def dechunked(content: bytes) -> bytes:
    """A body sent with `transfer-encoding: chunked` (what uvicorn sends without a length)."""
    body, rest = [], content
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body.append(rest[:size])
        rest = rest[size + 2 :]  # the chunk and its CRLF
    return b"".join(body)


_HOP_BY_HOP = frozenset(
    {b"host", b"connection", b"content-length", b"transfer-encoding", b"keep-alive", b"date"}
    | {b"server"}
)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
