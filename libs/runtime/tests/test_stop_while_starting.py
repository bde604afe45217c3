"""A stop (SIGTERM) while a service waits at start for its database or broker ends the process.

Found by `make chaos` (issue 14): a service started during a PostgreSQL outage waits for the
database, as it should, but ignored SIGTERM while it waited (uvicorn only stops a server that
has started), so `make run`'s Ctrl-C, the chaos harness and a Kubernetes rollout had to SIGKILL
it. The dependency that is "down" is a port where nothing listens, so the shared infrastructure
is never stopped (waiting for the broker, the service gets the test's real PostgreSQL).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from signaalpunt_testkit.processes import KillableProcess

from .helpers import eventually

APP = Path(__file__).parent / "apps" / "counter_app.py"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # free once closed: nothing listens there


@pytest.mark.parametrize("waiting_for", ["database", "broker"])
async def test_a_service_waiting_at_start_stops_on_sigterm(
    waiting_for: str, tmp_path: Path, database_url: str
) -> None:
    database = (
        f"postgresql://nobody:secret@127.0.0.1:{_closed_port()}/x"
        if waiting_for == "database"
        else database_url
    )
    app = KillableProcess(
        APP,
        {
            "SIGNAALPUNT_DATABASE_URL": database,
            "SIGNAALPUNT_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}",
            "COUNTER_SCHEMA": "stop_while_starting",
            "COUNTER_SERVICE": "stop-while-starting",
        },
        tmp_path,
    )
    app.start()
    assert app.proc is not None
    try:
        log = tmp_path / "run-1.log"

        async def waiting() -> bool:
            return f"waiting for the {waiting_for} to start" in log.read_text()

        await eventually(waiting, timeout=120, what=f"the start to wait for the {waiting_for}")
        app.proc.terminate()  # SIGTERM
        try:
            await asyncio.to_thread(app.proc.wait, 60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running a minute after SIGTERM, waiting for the {waiting_for}")
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()
