"""`make run`: start every service of Signaalpunt on the local infrastructure, in the foreground.

Each service is its own process (as in production) with development secrets from
`scripts/dev_secrets.py`; Ctrl-C stops them all gracefully (SIGTERM). As in a deployment, the
schemas are migrated first (by the owner) and each service then connects under its own role
(`?role=<schema>`, granted only its schema's rows), so row-level security holds locally too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from dev_secrets import AUTH, environment, register_dev_partners
from signaalpunt_runtime.migrations import KEY_STORE
from signaalpunt_runtime.settings import with_query

LOCAL_DATABASE = "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"

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


# the staff console and, in development, the identity provider it signs people in with (the
# consortium's own in production); started after the services, whose APIs the console calls
CONSOLE_PORT = 8107
DEV_IDP_PORT = 8110


def management_port(port: int) -> int:
    """A service's management port beside its API port (8101 → 9101)."""
    return port + 1000


def as_service_roles(env: Mapping[str, str]) -> dict[str, str]:
    """Migrate every schema as the owner, make each service's role (and the key store's) and
    grant it its schema, as the deployment's migration job does; then the settings that run each
    service under its role, without migrating at start. A service's own DSN, when set, is kept."""
    owner = env.get("SIGNAALPUNT_DATABASE_URL") or LOCAL_DATABASE
    # the operator's command, in a process of its own (the demo calls this from its event loop)
    migrated = subprocess.run(
        [
            sys.executable,
            "-m",
            "signaalpunt_runtime.migrations",
            "all",
            "--grant",
            "--create-roles",
        ],
        env={**env, "SIGNAALPUNT_DATABASE_URL": owner},
        capture_output=True,
        text=True,
        check=False,
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"migrating the schemas failed:\n{migrated.stderr[-3000:]}")
    schemas = {
        line.split()[1] for line in migrated.stdout.splitlines() if line.startswith("migrating ")
    }
    settings: dict[str, str] = {}
    for name, _, _ in SERVICES:
        prefix = f"SIGNAALPUNT_{name.upper()}_"
        if name not in schemas or f"{prefix}DATABASE_URL" in env:
            continue
        settings[f"{prefix}DATABASE_URL"] = with_query(owner, {"role": name})
        settings[f"{prefix}KEY_STORE_DATABASE_URL"] = with_query(owner, {"role": KEY_STORE})
        settings[f"{prefix}MIGRATE_ON_START"] = "false"
    return settings


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
    register_dev_partners(env)  # an operator's step, as the owner (it migrates intake first)
    env |= as_service_roles(env)
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


def start_console(
    service_urls: dict[str, str],
    *,
    port: int = CONSOLE_PORT,
    console_management_port: int | None = None,
    idp_port: int = DEV_IDP_PORT,
    log_dir: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """The development identity provider and the console (`docs/console.md`), pointed at the
    services' APIs in `service_urls` (name → base URL)."""
    public = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SIGNAALPUNT_DEV_IDP_HTTP_PORT": str(idp_port),
        "SIGNAALPUNT_CONSOLE_HTTP_PORT": str(port),
        "SIGNAALPUNT_CONSOLE_MANAGEMENT_PORT": str(
            console_management_port or management_port(port)
        ),
        "SIGNAALPUNT_CONSOLE_PUBLIC_URL": public,
        "SIGNAALPUNT_CONSOLE_OIDC_DISCOVERY_URL": (
            f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration"
        ),
        "SIGNAALPUNT_CONSOLE_INTAKE_URL": service_urls["intake"],
        "SIGNAALPUNT_CONSOLE_TRIAGE_URL": service_urls["triage"],
        "SIGNAALPUNT_CONSOLE_REFERRAL_URL": service_urls["referral"],
        "SIGNAALPUNT_CONSOLE_MATCHING_URL": service_urls["matching"],
        "SIGNAALPUNT_CONSOLE_NOTIFICATIONS_URL": service_urls["notifications"],
    }
    procs = []
    for name, module in (
        ("dev-idp", "signaalpunt_console.dev_idp"),
        ("console", "signaalpunt_console.main"),
    ):
        output = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            output = (log_dir / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list
                [sys.executable, "-m", module], cwd=REPO, env=env, stdout=output, stderr=output
            )
        )
    return procs


async def readiness(client: httpx.AsyncClient, management_url: str) -> tuple[bool, dict[str, Any]]:
    """Whether a service is ready, with its checks: /readyz (on its management port) answers 200
    and each of its consumers holds partitions (its group has settled, so no event waits for a
    rebalance). Not answering, or not yet: False (and the checks it gave, if any)."""
    try:
        answer = await client.get(f"{management_url}/readyz")
        checks: dict[str, Any] = answer.json()["checks"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False, {}
    return answer.status_code == 200 and all(checks.get("consumers", {}).values()), checks


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (graceful: consumers commit, the relay flushes), then wait."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            # a process stopped with SIGSTOP (a benchmark pauses the services) keeps a SIGTERM
            # pending until it goes on: without this it is killed after the wait, uncommitted
            proc.send_signal(signal.SIGCONT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signum)


def main() -> int:
    # `kill` (SIGTERM) stops the services as Ctrl-C does: without this, Python's default for
    # SIGTERM ends this process at once and leaves every service running without its parent
    signal.signal(signal.SIGTERM, interrupted)
    procs = start()
    procs += start_console({name: f"http://127.0.0.1:{port}" for name, _, port in SERVICES})
    print(f"development tokens: uv run signaalpunt-tokens mint --directory {AUTH} --help")
    print(
        f"staff console: http://127.0.0.1:{CONSOLE_PORT} (sign in at the development identity "
        f"provider on :{DEV_IDP_PORT} as 'Regisseur Terneuzen', the demo coordinator)"
    )
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
