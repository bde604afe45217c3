"""Services as separate processes for the tests that kill them (SIGKILL)."""

from __future__ import annotations

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


def uv() -> str:
    """The uv that runs the tests: `uv run` names itself in `UV`, and on a bare machine `make
    setup` installs it into the cache folder, which is not on PATH."""
    import shutil  # noqa: PLC0415 - only these tests need it

    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv is missing: run the tests with `make test` (or `uv run pytest`)"
    return found
