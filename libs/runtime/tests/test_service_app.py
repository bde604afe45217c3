"""A service from the composition helper, as its own process: HTTP endpoints and SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from signaalpunt_contracts import PLATFORM_PROBE
from signaalpunt_testkit.plugin import Infra, TopicFactory, committed_offsets

from .helpers import eventually, probe, producer, scalar, send

APP = Path(__file__).parent / "apps" / "counter_app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handled(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "signaalpunt_events_handled_total"
        and sample.labels["outcome"] == "handled"
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


async def test_health_metrics_asyncapi_and_graceful_sigterm(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> None:
    topic = await kafka_topics.private(PLATFORM_PROBE, "http.v1", consumers=("counter",))
    port, management_port = _free_port(), _free_port()
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(APP)],
        env={
            **os.environ,
            "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "SIGNAALPUNT_DATABASE_URL": database_url,
            "COUNTER_INPUT_TOPIC": topic.name,
            "COUNTER_SCHEMA": "web",
            "COUNTER_PORT": str(port),
            "COUNTER_MANAGEMENT_PORT": str(management_port),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{management_port}"  # health, metrics and docs
    try:

        async def healthy() -> bool:
            status, _ = await asyncio.to_thread(_get, f"{base}/readyz")
            return status == 200

        await eventually(healthy, timeout=60, what="/readyz to answer 200")
        status, body = await asyncio.to_thread(_get, f"{base}/readyz")
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["checks"]["kafka"] == "ok"
        assert health["checks"]["postgres"] == "ok"

        async with producer(infra.kafka_bootstrap) as p:
            for i in range(5):
                await send(p, topic.name, probe("http", i))

        async def counted() -> bool:
            _, text = await asyncio.to_thread(_get, f"{base}/metrics")
            return _handled(text) == 5

        await eventually(counted, timeout=30, what="the metrics to count 5 handled events")
        # the events were handled, so the consumer holds its topic's partitions (3)
        _, body = await asyncio.to_thread(_get, f"{base}/readyz")
        assert json.loads(body)["checks"]["consumers"] == {f"{topic.name}:counter": 3}
        _, metrics = await asyncio.to_thread(_get, f"{base}/metrics")
        assert "signaalpunt_event_handling_seconds_bucket" in metrics
        assert "faststream_received_messages_total" in metrics
        assert "signaalpunt_outbox_relay_active 1.0" in metrics

        status, _ = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        assert status == 404, "the API port serves the API only"
        status, spec = await asyncio.to_thread(_get, f"{base}/docs/asyncapi.json")
        assert status == 200
        assert f"{topic.name}:counter" in json.loads(spec)["channels"]
        status, _ = await asyncio.to_thread(_get, f"{base}/docs/asyncapi/try")
        assert status in (404, 405), "publishing through the docs page must be off"

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why
        assert code in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = (tmp_path / "app.log").read_text()
    assert "outbox relay active" in output
    assert "FastStream app shut down gracefully" in output
    assert all(line.startswith("{") for line in output.splitlines() if line.strip()), "JSON only"
    assert await scalar(database_url, "SELECT handled FROM web.totals") == 5
    # the shutdown committed the handled offsets: a restart would not see the five again
    assert await committed_offsets(infra.kafka_bootstrap, "counter", topic.name) == 5
