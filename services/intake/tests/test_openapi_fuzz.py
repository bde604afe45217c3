"""schemathesis against intake's own OpenAPI document: whatever it sends, no 5xx.

The CLI runs as a separate process against the running service (with a desk token, so the
authenticated paths are reached too); its exit status and summary are the verdict.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from intake_harness import RunningIntake


async def test_no_server_errors_whatever_is_sent(intake: RunningIntake, tmp_path: Path) -> None:
    base = str(intake.client.base_url).rstrip("/")
    token = intake.token()["Authorization"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "40",
        "--request-timeout",
        "20",
        "--header",
        f"Authorization: {token}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    text = output.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text)
    assert process.returncode == 0, text[-3000:]
    assert "2 selected / 2 total" in text, "both operations must have been exercised"
    assert "Fuzzing" in text
