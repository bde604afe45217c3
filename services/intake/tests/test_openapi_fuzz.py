"""schemathesis against intake's own OpenAPI document: whatever it sends, no 5xx.

The CLI runs as a separate process against the running service (with a desk token, so the
authenticated paths are reached too); its exit status and summary are the verdict.
"""

from __future__ import annotations

from pathlib import Path

from intake_harness import RunningIntake
from signaalpunt_testkit.processes import schemathesis


async def test_no_server_errors_whatever_is_sent(intake: RunningIntake, tmp_path: Path) -> None:
    base = str(intake.client.base_url).rstrip("/")
    token = intake.token()["Authorization"]
    code, text = await schemathesis(
        f"{base}/openapi.json", authorization=token, max_examples=40, seconds=300
    )
    (tmp_path / "schemathesis.txt").write_text(text)
    assert code == 0, text[-3000:]
    assert "2 selected / 2 total" in text, "both operations must have been exercised"
    assert "Fuzzing" in text
