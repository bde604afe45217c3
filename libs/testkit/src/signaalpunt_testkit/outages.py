"""Real outages of the local infrastructure, through the project's own `deploy/local/infra.sh`.

Tests (and `make chaos`) stop PostgreSQL or kill the broker for real, so the spine meets the same
errors as in production: refused connections, connections dropped mid-transaction, a broker that
stops answering.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .plugin import repo_root


async def infra(verb: str, component: str) -> None:
    """Run `deploy/local/infra.sh <verb> <component>` with this process's environment (ports)."""
    script = repo_root() / "deploy" / "local" / "infra.sh"
    result = await asyncio.to_thread(
        subprocess.run,
        [str(script), verb, component],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"infra.sh {verb} {component} failed:\n{result.stderr[-2000:]}")


@asynccontextmanager
async def postgres_down() -> AsyncIterator[None]:
    """PostgreSQL is stopped (fast shutdown: every connection is dropped) while the block runs,
    and started again afterwards, whatever happened inside."""
    await infra("down", "postgres")
    try:
        yield
    finally:
        await infra("up", "postgres")


@asynccontextmanager
async def kafka_down() -> AsyncIterator[None]:
    """The broker is stopped while the block runs, and started again afterwards, whatever
    happened inside (`infra.sh up` waits until it answers)."""
    await infra("down", "kafka")
    try:
        yield
    finally:
        await infra("up", "kafka")
