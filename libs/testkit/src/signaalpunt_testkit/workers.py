"""Parallel test workers (pytest-xdist), each on a Kafka broker and a PostgreSQL of its own.

`make test` runs the suite in `TEST_WORKERS` processes (`pytest -n N --dist loadfile`: a test
module stays in one worker, with its module-scoped services). Worker 0 uses the infrastructure of
`make infra-up`; worker i > 0 uses its own, started by `python -m signaalpunt_testkit.workers up N`
from the same `deploy/local/infra.sh`, in `<state dir>/worker-<i>` with every port moved by
`PORT_STEP * i`. Own infrastructure, not shared: several tests stop PostgreSQL or kill the broker
on purpose (`outages.py`), which must never hit the tests another worker is running meanwhile.

The plugin (`plugin.py`) applies `worker_environment` in each worker before any test module is
imported, so the fixtures, the services a test starts and `outages.py` all see the worker's own
endpoints.

    python -m signaalpunt_testkit.workers up N    # start (idempotent) the infra of workers 1..N-1
    python -m signaalpunt_testkit.workers down    # stop every worker's infra (make infra-down)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PORT_STEP = 100
"""Worker i's ports are the main infrastructure's plus PORT_STEP * i (main's defaults: Kafka 19092,
its controller 19093, its TLS listener 19094, PostgreSQL 15432: none in Linux's ephemeral range)."""

ENV_FILE = "infra.env"
"""Each worker's state folder keeps the variables it was started with, for `down`."""

APPLIED = "SIGNAALPUNT_TEST_WORKER"
"""Set to the worker's name once its environment is applied."""

_DEFAULTS = {
    "SIGNAALPUNT_KAFKA_PORT": 19092,
    "SIGNAALPUNT_KAFKA_CONTROLLER_PORT": 19093,
    "SIGNAALPUNT_PG_PORT": 15432,
    "SIGNAALPUNT_CHAOS_PORT_BASE": 18150,
}
_DEFAULT_DATABASE = "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"


def repo_root() -> Path:
    """The checkout this test run belongs to: the nearest folder with deploy/local/infra.sh."""
    for folder in [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]:
        if (folder / "deploy" / "local" / "infra.sh").is_file():
            return folder
    raise RuntimeError("cannot find deploy/local/infra.sh above the current folder")


def worker_index(environ: Mapping[str, str] = os.environ) -> int:
    """pytest-xdist names its workers gw0, gw1, ...; a run without workers is worker 0."""
    found = re.fullmatch(r"gw(\d+)", environ.get("PYTEST_XDIST_WORKER", ""))
    return int(found.group(1)) if found else 0


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("SIGNAALPUNT_STATE_DIR") or repo_root() / ".local")


def worker_environment(index: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables that put worker `index` on its own infrastructure (none for worker 0)."""
    if index == 0:
        return {}
    shift = PORT_STEP * index
    port = {name: int(environ.get(name) or default) + shift for name, default in _DEFAULTS.items()}
    kafka = port["SIGNAALPUNT_KAFKA_PORT"]
    tls = int(environ.get("SIGNAALPUNT_KAFKA_TLS_PORT") or kafka - shift + 2) + shift
    database = re.sub(
        r"@([^:/@]+):\d+/",
        f"@\\1:{port['SIGNAALPUNT_PG_PORT']}/",
        environ.get("SIGNAALPUNT_DATABASE_URL") or _DEFAULT_DATABASE,
    )
    return {
        **{name: str(value) for name, value in port.items()},
        "SIGNAALPUNT_KAFKA_TLS_PORT": str(tls),
        "SIGNAALPUNT_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "SIGNAALPUNT_DATABASE_URL": database,
        # its own data folders (infra.sh derives Kafka's and PostgreSQL's from the state folder)
        "SIGNAALPUNT_STATE_DIR": str(state_dir(environ) / f"worker-{index}"),
        "SIGNAALPUNT_KAFKA_DIR": "",
        "SIGNAALPUNT_PG_DIR": "",
    }


def _set(target: dict[str, str] | os._Environ[str], changes: Mapping[str, str]) -> None:
    for name, value in changes.items():
        if value:
            target[name] = value
        else:
            target.pop(name, None)


def apply() -> None:
    """Put this process (a pytest-xdist worker) on its worker's infrastructure, once: a pytest
    that a test starts as a subprocess inherits both the worker's name and its moved ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or os.environ.get(APPLIED) == worker:
        return
    _set(os.environ, worker_environment(worker_index()))
    os.environ[APPLIED] = worker


def _run(command: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def up(workers: int) -> None:
    """Start the infrastructure of workers 1..workers-1 with the registry's topics, ACLs and
    principals (as `make infra-up topics`), and make the development secrets once, before the
    workers could race to make them."""
    sys.path.insert(0, str(repo_root() / "scripts"))
    import dev_secrets  # noqa: PLC0415 - the scripts folder is not a package

    dev_secrets.environment()
    for index in range(1, workers):
        env = dict(os.environ)
        apply_to = worker_environment(index, env)
        _set(env, apply_to)
        folder = Path(env["SIGNAALPUNT_STATE_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ENV_FILE).write_text(
            "".join(f"export {name}={value}\n" for name, value in apply_to.items() if value)
        )
        sys.stderr.write(
            f"[workers] worker {index}: Kafka {env['SIGNAALPUNT_KAFKA_BOOTSTRAP']}, "
            f"PostgreSQL port {env['SIGNAALPUNT_PG_PORT']}, state {folder}\n"
        )
        _run([str(repo_root() / "deploy" / "local" / "infra.sh"), "up"], env)
        _run([_tool("signaalpunt-topics"), "ensure"], env)
        partners = str(repo_root() / "deploy" / "local" / "partners.yaml")
        _run(
            [
                _tool("signaalpunt-topics"),
                "acls",
                "--apply",
                "--local-users",
                "--partners-file",
                partners,
            ],
            env,
        )


def down() -> None:
    """Stop every worker's infrastructure that a `up` left (its variables kept in its folder)."""
    for env_file in sorted(state_dir().glob(f"worker-*/{ENV_FILE}")):
        env = dict(os.environ)
        for line in env_file.read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        _run([str(repo_root() / "deploy" / "local" / "infra.sh"), "down"], env)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    match args:
        case ["up", count] if count.isdigit():
            up(int(count))
        case ["down"]:
            down()
        case _:
            sys.exit("usage: python -m signaalpunt_testkit.workers up N | down")


if __name__ == "__main__":
    main()
