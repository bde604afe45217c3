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

from dev_secrets import AUTH, environment, register_dev_partners

REPO = Path(__file__).resolve().parents[1]

# (name, module, port): one line per service; its management port (/livez, /readyz, /metrics,
# the docs) is the API port + 1000 (`management_port`)
SERVICES: list[tuple[str, str, int]] = [
    ("intake", "signaalpunt_intake.main", 8101),
    ("triage", "signaalpunt_triage.main", 8102),
    ("notifications", "signaalpunt_notifications.main", 8103),
    ("metrics", "signaalpunt_metrics.main", 8104),
    ("referral", "signaalpunt_referral.main", 8105),
    ("matching", "signaalpunt_matching.main", 8106),
]


def management_port(port: int) -> int:
    """A service's management port beside its API port (8101 → 9101)."""
    return port + 1000


def start(
    extra_env: dict[str, str] | None = None,
    ports: dict[str, int] | None = None,
    *,
    management_ports: dict[str, int] | None = None,
    log_dir: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start every service as its own process; `ports` and `management_ports` override the
    default ports per service; with `log_dir`, each service's output goes to
    `<log_dir>/<name>.log` instead of the terminal."""
    env = {**os.environ, **environment(), **(extra_env or {})}
    register_dev_partners(env)
    procs: list[subprocess.Popen[bytes]] = []
    for name, module, default_port in SERVICES:
        port = (ports or {}).get(name, default_port)
        management = (management_ports or {}).get(name, management_port(default_port))
        if log_dir is None:
            print(
                f"starting {name:<14} API http://127.0.0.1:{port}  management "
                f"http://127.0.0.1:{management} (/livez, /readyz, /metrics, /docs)"
            )
            output = None
        else:
            log_dir.mkdir(parents=True, exist_ok=True)
            output = (log_dir / f"{name}.log").open("wb")  # the child process writes it
        procs.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list
                [sys.executable, "-m", module],
                cwd=REPO,
                env={
                    **env,
                    f"SIGNAALPUNT_{name.upper()}_HTTP_PORT": str(port),
                    f"SIGNAALPUNT_{name.upper()}_MANAGEMENT_PORT": str(management),
                },
                stdout=output,
                stderr=output,
            )
        )
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (graceful: consumers commit, the relay flushes), then wait."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    procs = start()
    print(f"development tokens: uv run signaalpunt-tokens mint --directory {AUTH} --help")
    try:
        for proc in procs:
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
