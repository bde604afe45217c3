"""`make run`: start every service of Signaalpunt on the local infrastructure, in the foreground.

Each service is its own process (as in production) with development secrets from
`scripts/dev_secrets.py`; Ctrl-C stops them all gracefully (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dev_secrets import AUTH, environment

REPO = Path(__file__).resolve().parents[1]

# (name, module, port): one line per service
SERVICES: list[tuple[str, str, int]] = [
    ("intake", "signaalpunt_intake.main", 8101),
    ("triage", "signaalpunt_triage.main", 8102),
]


def main() -> int:
    env = {**os.environ, **environment()}
    procs: list[subprocess.Popen[bytes]] = []
    for name, module, port in SERVICES:
        print(f"starting {name:<8} http://127.0.0.1:{port}  (/health, /metrics, /docs)")
        procs.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list
                [sys.executable, "-m", module],
                cwd=REPO,
                env={**env, f"SIGNAALPUNT_{name.upper()}_HTTP_PORT": str(port)},
            )
        )
    print(f"development tokens: uv run signaalpunt-tokens mint --directory {AUTH} --help")
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
