"""schemathesis against triage's own OpenAPI document: whatever it sends, no 5xx.

Runs as a separate process against the running service with a coordinator token, so the
authenticated paths are reached (random signal ids mostly answer 404; the queue and validation
paths are exercised for real).
"""

from __future__ import annotations

from pathlib import Path

from signaalpunt_testkit.access_matrix import operations
from signaalpunt_testkit.processes import schemathesis
from triage_harness import RunningTriage


async def test_no_server_errors_whatever_is_sent(triage: RunningTriage, tmp_path: Path) -> None:
    sent = await triage.send("Woont alleen")  # at least one real case in the queue
    await triage.case(sent.data.signal_id)
    base = str(triage.client.base_url).rstrip("/")
    token = triage.token(roles=("coordinator", "desk"))["Authorization"]
    document = f"{str(triage.management.base_url).rstrip('/')}/openapi.json"
    code, text = await schemathesis(document, url=base, authorization=token, max_examples=30)
    (tmp_path / "schemathesis.txt").write_text(text)
    assert code == 0, text[-3000:]
    count = len(operations((await triage.management.get("/openapi.json")).json()))
    assert f"{count} selected / {count} total" in text, "every operation must have been exercised"
