"""`signaalpunt-volunteers import` against the running matching service (real Kafka and
PostgreSQL): a coordinator's CSV goes in batches, the service's own refusals and the parser's end up
in the report with their line, and the exit code says rows were refused."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from matching_harness import RunningMatching
from signaalpunt_access.dev_tokens import mint
from signaalpunt_matching.cli import app
from signaalpunt_matching.config import DEMO_VOLUNTEERS
from typer.testing import CliRunner


def _token(matching: RunningMatching) -> str:
    return mint(
        matching.keys,
        subject="staff:vc-cli",
        kind="staff",
        municipalities=["GM0715"],
        roles=["volunteer_coordinator"],
    )


async def test_a_csv_import_through_the_cli_reports_every_refused_row(
    matching: RunningMatching, tmp_path: Path
) -> None:
    demo = list(csv.DictReader(io.StringIO(DEMO_VOLUNTEERS.read_text(encoding="utf-8"))))
    terneuzen = [r for r in demo if r["municipality"] == "GM0715"][:4]
    rows = [dict(r, external_id=f"CLI-{i}") for i, r in enumerate(terneuzen)]
    rows.append(dict(terneuzen[0], external_id="CLI-area", postcode="9999 ZZ"))  # the service
    rows.append(dict(terneuzen[0], external_id="CLI-vog", vog_expires_on="gisteren"))  # parser
    source = tmp_path / "vrijwilligers.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(demo[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = tmp_path / "geweigerd.csv"
    env = {
        "SIGNAALPUNT_MATCHING_URL": str(matching.client.base_url),
        "SIGNAALPUNT_TOKEN": _token(matching),
    }
    args = ["import", str(source), "--batch", "2", "--report", str(report)]
    # the CLI is synchronous: it runs beside the service's event loop, as a coordinator's shell
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 2, result.output  # rows were refused
    assert "4 volunteers registered, 0 updated, 2 refused" in result.output
    refused = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert [(r["line"], r["external_id"]) for r in refused] == [("6", "CLI-area"), ("7", "CLI-vog")]
    assert "centroid" in refused[0]["reason"]

    again = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert "0 volunteers registered, 4 updated, 2 refused" in again.output  # by external_id
    listed = await matching.client.get(
        "/v1/matching/volunteers", headers={"Authorization": f"Bearer {_token(matching)}"}
    )
    assert listed.status_code == 200
    ids = {v.get("external_id") for v in listed.json()}
    assert {f"CLI-{i}" for i in range(4)} <= ids
