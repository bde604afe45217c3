"""Real outages of the local infrastructure, through the project's own `deploy/local/infra.sh`.

Tests (and `make chaos`) stop PostgreSQL or kill the broker for real, so the spine meets the same
errors as in production: refused connections, connections dropped mid-transaction, a broker that
stops answering.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .plugin import repo_root


async def infra(verb: str, component: str) -> None:
    """Run `deploy/local/infra.sh <verb> <component>` with this process's environment (ports)."""
    script = repo_root() / "deploy" / "local" / "infra.sh"
    result = await asyncio.to_thread(
        subprocess.run,
        [str(script), verb, component],
        # a loaded machine (CI beside a whole test run) can take over the default 90 s to start
        # Kafka again with a test run's hundreds of partitions
        env={"SIGNAALPUNT_READY_TIMEOUT": "300", **os.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"infra.sh {verb} {component} failed:\n{result.stderr[-2000:]}")


# A start that fails once (a broker that exits during start-up on a loaded CI machine) must not
# leave the component down for every test after the one that stopped it: `up` is idempotent, so
# it is tried again, and what the failed attempt printed is kept as a warning in the run's summary.
UP_ATTEMPTS = 3


async def bring_back(component: str) -> None:
    """`infra.sh up <component>`, tried up to UP_ATTEMPTS times."""
    for attempt in range(1, UP_ATTEMPTS + 1):
        try:
            await infra("up", component)
        except RuntimeError as exc:
            if attempt == UP_ATTEMPTS:
                raise
            warnings.warn(
                f"attempt {attempt} to start {component} again failed; retrying: {exc}",
                stacklevel=2,
            )
        else:
            return


@asynccontextmanager
async def postgres_down() -> AsyncIterator[None]:
    """PostgreSQL is stopped (fast shutdown: every connection is dropped) while the block runs,
    and started again afterwards, whatever happened inside."""
    await infra("down", "postgres")
    try:
        yield
    finally:
        await bring_back("postgres")


@asynccontextmanager
async def kafka_down() -> AsyncIterator[None]:
    """The broker is stopped while the block runs, and started again afterwards, whatever
    happened inside (`infra.sh up` waits until it answers)."""
    await infra("down", "kafka")
    try:
        yield
    finally:
        await bring_back("kafka")
