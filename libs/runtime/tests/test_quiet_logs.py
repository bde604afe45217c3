"""Quiet logs under failure (issue 14, defect 5): while Kafka was down, notifications and metrics
each wrote ~500 ERROR lines a second. A service now writes its state changes and a summary.

A broker of the test's own (another port and data folder, through `deploy/local/infra.sh`) is
killed with -9 under a running service, so the shared broker of the other tests stays up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from signaalpunt_contracts import TopicRegistry
from signaalpunt_runtime.topic_admin import ensure_topics
from signaalpunt_testkit.logs import collected_logs
from signaalpunt_testkit.plugin import repo_root

from .apps.counter_app import build, probe_topic
from .helpers import eventually, probe, producer, running, scalar, send, settings_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_broker_outage_is_a_few_lines_not_one_per_attempt(
    database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SIGNAALPUNT_KAFKA_PORT": str(port),
        "SIGNAALPUNT_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "SIGNAALPUNT_KAFKA_TLS_PORT": str(_free_port()),  # its TLS listener too
        "SIGNAALPUNT_KAFKA_DIR": str(tmp_path / "kafka"),
    }
    script = str(repo_root() / "deploy" / "local" / "infra.sh")

    def infra(verb: str) -> None:
        result = subprocess.run(
            [script, verb, "kafka"], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr

    bootstrap = f"127.0.0.1:{port}"
    await asyncio.to_thread(infra, "up")
    try:
        topic = probe_topic("quiet.in.v1", "counter")
        output = probe_topic("quiet.out.v1", "downstream")
        await ensure_topics(bootstrap, TopicRegistry((topic, output)).broker_topics())
        service = build(
            settings=settings_for(database_url, bootstrap, "quiet"),
            input_topic=topic,
            output_topic=output,
        )
        async with running(service):
            async with producer(bootstrap) as p:
                for i in range(5):
                    await send(p, topic.name, probe("quiet", i))
            await eventually(
                lambda: _at_least(database_url, "SELECT count(*) FROM quiet.effects", 5),
                what="handled before the outage",
            )
            with collected_logs(logging.WARNING) as lines:
                pid = int((tmp_path / "kafka" / "kafka.pid").read_text())
                os.kill(pid, signal.SIGKILL)
                await asyncio.sleep(20)
                during = list(lines)
            await asyncio.to_thread(infra, "up")
    finally:
        await asyncio.to_thread(infra, "down")
    # the consumer, its producer and the relay's producer each lose the broker: a line when
    # that happens and a summary a minute, not one per reconnect attempt
    assert len(during) <= 15, f"{len(during)} lines in 20 s:\n" + "\n".join(during[:40])


async def _at_least(dsn: str, query: str, want: int) -> bool:
    return int(await scalar(dsn, query)) >= want
