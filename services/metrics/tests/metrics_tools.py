"""Debian's Prometheus tools for the tests: missing under CI=true is a failure, elsewhere a skip."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from signaalpunt_testkit.plugin import in_ci


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is missing: apt-get install -y prometheus prometheus-alertmanager"
        message += " prometheus-postgres-exporter"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


async def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run a tool without blocking the event loop; returns its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=subprocess.PIPE if stdin is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode()
