"""Services as separate processes for the tests that kill them (SIGKILL) or fuzz them over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path


class KillableProcess:
    """A Python script run as its own process; each start logs to `<log_dir>/run-<n>.log`."""

    def __init__(self, script: Path, env: dict[str, str], log_dir: Path) -> None:
        self.script = script
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"run-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - the test's own script
            [sys.executable, str(self.script)], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a node dies."""
        assert self.proc is not None
        assert self.proc.poll() is None, f"the process died by itself, see {self.log_dir}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM: the graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


async def schemathesis(
    openapi_url: str,
    *,
    url: str,
    authorization: str | None,
    max_examples: int,
    seconds: float = 400,
    checks: str = "all",
) -> tuple[int, str]:
    """schemathesis's CLI against a running service's OpenAPI document (from its management
    port) sending to `url` (its API port), with every check (no 5xx; each status, media type,
    header and body as documented; schema-valid requests taken and invalid ones refused; auth
    not ignored; undocumented methods a 405 with `Allow`) in every phase (examples, coverage,
    fuzzing, stateful), with the token given or none; returns its exit status and output."""
    header = ["--header", f"Authorization: {authorization}"] if authorization else []
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        openapi_url,
        "--url",
        url,
        "--checks",
        checks,
        "--max-examples",
        str(max_examples),
        "--request-timeout",
        "20",
        "--seed",
        "20261202",
        *header,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
