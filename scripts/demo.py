"""`make demo`: run Signaalpunt on the local infrastructure with a realistic scenario and report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    print("Signaalpunt demo\n================\n")
    print("Infrastructure:")
    subprocess.run([str(REPO / "deploy/local/infra.sh"), "status"], check=True)  # noqa: S603
    print("\nNot built yet: the services (intake, triage, referral, matching, notifications,")
    print("metrics). Each adds its part of the scenario here when it lands.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
