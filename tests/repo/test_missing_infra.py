"""Under CI=true a test needing Kafka or PostgreSQL fails when they are missing: never a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE = {
    "SIGNAALPUNT_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "SIGNAALPUNT_DATABASE_URL": "postgresql://nobody:x@127.0.0.1:2/none",
    "SIGNAALPUNT_TEST_START_INFRA": "0",
}


def _run_smoke_tests(ci: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=-rs",
            "tests/infra/test_postgres_smoke.py",
        ],
        cwd=REPO,
        env={**os.environ, **UNREACHABLE, "CI": ci},
        capture_output=True,
        text=True,
        check=False,
        # a guard against a hang, not a timing: importing the test kit takes over a minute on a
        # loaded two-core machine (measured 75 s while other work ran)
        timeout=900,
    )


def test_ci_true_fails_loudly() -> None:
    result = _run_smoke_tests("true")
    assert result.returncode != 0
    assert "2 errors" in result.stdout
    assert "CI=true and infrastructure missing" in result.stdout
    assert "skipped" not in result.stdout


def test_outside_ci_it_skips_with_the_reason() -> None:
    result = _run_smoke_tests("")
    assert result.returncode == 0
    assert "2 skipped" in result.stdout
    assert "make infra-up" in result.stdout
