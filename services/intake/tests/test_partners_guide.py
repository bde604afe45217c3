"""docs/partners.md is true: its `kcat` and `jose` commands, run exactly as written (settings
pointing at the test system), register a partner, send a signed and encrypted signal that
intake takes, and read a refusal from the partner's own topic."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from intake_harness import RunningIntake
from signaalpunt_contracts import partner_rejections_topic
from signaalpunt_contracts.partner import REJECTION_REASONS
from signaalpunt_runtime.kafka_security import shared_security
from test_partner_channel import signals_from

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "partners.md"
STEP = re.compile(r"<!-- partner-step: ([a-z-]+) -->\n```sh\n(.*?)```", re.DOTALL)


def steps() -> dict[str, str]:
    return dict(STEP.findall(GUIDE.read_text()))


def test_the_guide_names_every_refusal_reason() -> None:
    text = GUIDE.read_text()
    assert all(f"`{reason}`" in text for reason in REJECTION_REASONS)
    assert list(steps()) == [
        "settings",
        "signing-key",
        "register",
        "report",
        "send",
        "rejections",
    ]


async def test_the_guide_commands_send_a_signal_that_is_taken(
    intake: RunningIntake, tmp_path: Path
) -> None:
    if not (shutil.which("kcat") and shutil.which("jose")):
        if os.environ.get("CI") == "true":
            pytest.fail("kcat and jose are needed (apt-get install kcat jose)")
        pytest.skip("kcat and jose are not installed")
    guide = steps()
    # the guide's partner-kcat.conf: here the test broker's credentials (the admin principal, as
    # the topics are private to the test; tests/infra/test_kafka_acls.py tests partners' ACLs)
    # (as PLAIN: Debian's kcat, librdkafka 2.0.2, fails SCRAM against Kafka 4; the local and
    # compose brokers take the admin with PLAIN too)
    admin = shared_security().model_copy(update={"mechanism": "PLAIN"})
    (tmp_path / "partner-kcat.conf").write_text(
        "".join(f"{k}={v}\n" for k, v in admin.librdkafka().items())
    )
    urn = f"urn:signaalpunt:partner:guide-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SIGNAALPUNT_DATABASE_URL": intake.database_url,
        "INTAKE_URL": str(intake.client.base_url).rstrip("/"),
        "KAFKA": intake.infra.kafka_bootstrap,
        "PARTNER_URN": urn,
        "PARTNER_KID": "guide-2026",
        "SIGNALS_TOPIC": intake.partner_signals.name,
        "REJECTIONS_TOPIC": partner_rejections_topic(urn, prefix=intake.partner_topic_prefix).name,
    }

    async def run(*names: str, **extra: str) -> str:
        script = "set -euo pipefail\n" + "\n".join(guide[n] for n in ("settings", *names))
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    await run("signing-key", "register", "report")
    await asyncio.sleep(1.0)  # intake reads the registry every 0.5 s in the tests
    await run("send", EVENT_ID="guide-1")
    (signal,) = await signals_from(intake, f"{urn}#guide-1")
    assert signal.municipality == "GM0715"

    report = tmp_path / "report.json"
    report.write_text(report.read_text().replace("4531 GH", "1012 AB"))  # Amsterdam
    await run("send", EVENT_ID="guide-2")
    for _ in range(60):
        try:
            told = await run("rejections")
        except AssertionError:  # the topic is made with the first refusal
            told = ""
        if "guide-2" in told:
            break
        await asyncio.sleep(0.5)
    assert '"partner_event_id":"guide-2"' in told
    assert '"reason":"outside_consortium"' in told
