"""Alerts that reach a person: a real Prometheus and a real Alertmanager (Debian's
`prometheus` and `prometheus-alertmanager`) with the project's own rules and routing.

- a halted consumer (a systemic pause of a service on the spine, scraped on its management port)
  raises `SignaalpuntConsumerPaused`, which Alertmanager routes (severity critical) to the on-call
  receiver: in development, the development webhook sink (here a receiver of the test's own);
- the metrics service not being scraped makes `SignaalpuntAcuteSignalNotPickedUp` fire (severity
  page), routed to the pager receiver: an acute sign is never silently unwatched.

The rules are the project's files with their `for:` durations shortened to a second (their
timing is covered by `promtool test rules`, deploy/prometheus/tests); the Alertmanager
configuration is the project's with the sink's address replaced by the test's receiver.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from signaalpunt_contracts import PLATFORM_PROBE
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory, in_ci
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .apps.counter_app import build
from .helpers import eventually, probe, producer, send, settings_for

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "deploy" / "prometheus" / "rules"
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
SINK = "http://notification-sinks:1026"


def _tool(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    message = f"{names[0]} is missing: apt-get install -y prometheus prometheus-alertmanager"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """What Alertmanager delivered, per webhook path (one per receiver)."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}

        async def hook(request: Request) -> Response:
            self.received.setdefault(request.url.path, []).append(await request.json())
            return Response(status_code=200)

        self.app = Starlette(
            routes=[Route("/webhooks/alertmanager/{name}", hook, methods=["POST"])]
        )

    def alerts(self, path: str) -> set[tuple[str, str]]:
        return {
            (alert["labels"]["alertname"], alert["status"])
            for message in self.received.get(path, [])
            for alert in message["alerts"]
        }


@asynccontextmanager
async def _served(app: Starlette) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def _process(folder: Path, name: str, *args: str) -> AsyncIterator[None]:
    log = (folder / f"{name}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(*args, stdout=log, stderr=log)
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        log.close()


def _fast_rules(folder: Path) -> list[str]:
    paths = []
    for rules in sorted(RULES.glob("*.yml")):
        text = re.sub(r"(?m)^(\s+for:) \S+$", r"\1 1s", rules.read_text())
        (folder / rules.name).write_text(text)
        paths.append(str(folder / rules.name))
    return paths


async def test_a_halted_consumer_and_an_unwatched_acute_path_reach_a_person(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> None:
    prometheus = _tool("prometheus")
    alertmanager = _tool("prometheus-alertmanager", "alertmanager")
    topic = await kafka_topics.private(PLATFORM_PROBE, "alerting.v1", consumers=("counter",))
    service = build(
        settings=settings_for(
            database_url,
            infra.kafka_bootstrap,
            "alerting",
            retry_attempts=1,
            systemic_failures=2,
            max_consecutive_dead_letters=2,
            pause_max_delay=0.5,
        ),
        input_topic=topic,
        mode="broken",  # every event fails the same way: the stage pauses (systemic)
    )
    receiver = Receiver()
    am_port, prom_port = _free_port(), _free_port()
    routing = ALERTMANAGER.read_text()
    async with serving(service.asgi_app()) as counter, _served(receiver.app) as sink:
        (tmp_path / "alertmanager.yml").write_text(routing.replace(SINK, sink))
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": _fast_rules(tmp_path),
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                        ]
                    },
                    "scrape_configs": [
                        # the halted consumer's service, on its management port
                        {
                            "job_name": "triage",
                            "static_configs": [
                                {"targets": [f"127.0.0.1:{counter.management_port}"]}
                            ],
                        },
                        # the metrics service, which does not answer
                        {
                            "job_name": "metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{_free_port()}"]}],
                        },
                    ],
                }
            )
        )
        async with (
            _process(
                tmp_path,
                "alertmanager",
                alertmanager,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ),
            _process(
                tmp_path,
                "prometheus",
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ),
            producer(infra.kafka_bootstrap) as p,
        ):
            for i in range(4):
                await send(p, topic.name, probe("alerting", i))

            async def reached(path: str, alert: str) -> bool:
                return (alert, "firing") in receiver.alerts(path)

            def logs() -> str:
                return "\n".join(
                    (tmp_path / f"{n}.log").read_text()[-1500:]
                    for n in ("prometheus", "alertmanager")
                )

            try:
                await eventually(
                    lambda: reached(
                        "/webhooks/alertmanager/on-call-page", "SignaalpuntAcuteSignalNotPickedUp"
                    ),
                    timeout=90,
                    what="the acute alert to page while the metrics service is not scraped",
                )
                await eventually(
                    lambda: reached("/webhooks/alertmanager/on-call", "SignaalpuntConsumerPaused"),
                    timeout=120,
                    what="the halted consumer's alert to reach the on-call receiver",
                )
            except AssertionError as exc:
                received = json.dumps(receiver.received)
                raise AssertionError(f"{exc}\nreceived: {received}\n{logs()}") from None
            # routed by severity: the page went to the pager, not to the on-call queue
            paused = next(
                a
                for m in receiver.received["/webhooks/alertmanager/on-call"]
                for a in m["alerts"]
                if a["labels"]["alertname"] == "SignaalpuntConsumerPaused"
            )
            assert paused["labels"]["reason"] == "systemic"
            assert paused["labels"]["group"] == "counter"
            assert paused["annotations"]["runbook_url"].endswith(
                "docs/runbooks/SignaalpuntConsumerPaused.md"
            )
            assert ("SignaalpuntAcuteSignalNotPickedUp", "firing") not in receiver.alerts(
                "/webhooks/alertmanager/on-call"
            )
            async with httpx.AsyncClient(timeout=10) as client:
                ready = await client.get(f"{counter.management_url}/livez")
            assert ready.status_code == 200, "a halted consumer is an alert, not a restart"
