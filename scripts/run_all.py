"""`make run`: start every service of Signaalpunt on the local infrastructure, in the foreground.

Each service is its own process (as in production); Ctrl-C stops them all gracefully (SIGTERM).
Services are added here as their issues land.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (name, module:app, port) — one line per service
SERVICES: list[tuple[str, str, int]] = []


def main() -> int:
    if not SERVICES:
        print("No services are built yet: the infrastructure is up and the topics exist.")
        print("Services (intake, triage, notifications, metrics, …) are added by their issues.")
        return 0
    procs: list[subprocess.Popen[bytes]] = []
    for name, app, port in SERVICES:
        print(f"starting {name} on http://127.0.0.1:{port}")
        procs.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list
                [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO,
                env=os.environ.copy(),
            )
        )
    try:
        for proc in procs:
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
