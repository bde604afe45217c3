"""`signaalpunt-volunteers`: the volunteer registry from a CSV file, through the matching API.

    signaalpunt-volunteers import vrijwilligers.csv --report geweigerd.csv   (SIGNAALPUNT_TOKEN)
    signaalpunt-volunteers erase <volunteer id> --reason data_subject_request

Rows go in batches with a progress bar; every refused row (by the parser here or by the service:
an unknown postcode area, another municipality) is listed with its line and reason and written
to the report. Exit code 2 when rows were refused. Roles and municipalities are checked by the
service, as for every other caller.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from signaalpunt_contracts import ErasureReason

from .csv_import import RejectedRow, read_csv, write_report

app = typer.Typer(help="The volunteer registry of the matching service.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """The volunteer registry of the matching service."""
    # a callback makes `import` a subcommand as documented; with one command and no callback,
    # typer runs it directly and `signaalpunt-volunteers import file.csv` reads "import" as the file


@app.command("import")
def import_volunteers(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="the volunteers CSV"),
    url: str = typer.Option("http://127.0.0.1:8106", envvar="SIGNAALPUNT_MATCHING_URL"),
    token: str = typer.Option(..., envvar="SIGNAALPUNT_TOKEN", help="a coordinator's token"),
    batch: int = typer.Option(200, min=1, max=500, help="volunteers per request"),
    report: Path | None = typer.Option(None, help="write the refused rows to this CSV"),
) -> None:
    """Register or update (by external_id) every volunteer of the file."""
    parsed = read_csv(source.read_text(encoding="utf-8"))
    rejected: list[RejectedRow] = list(parsed.rejected)
    created = updated = 0
    with (
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as client,
        Progress(console=console) as progress,
    ):
        task = progress.add_task("volunteers", total=len(parsed.items))
        for start in range(0, len(parsed.items), batch):
            chunk = parsed.items[start : start + batch]
            answer = client.post(
                "/v1/matching/volunteers/import",
                json=[item.model_dump(mode="json", exclude_none=True) for _, item in chunk],
            )
            if answer.status_code != 200:
                console.print(f"[red]the service refused the batch ({answer.status_code})")
                console.print(answer.text)
                raise typer.Exit(1)
            body = answer.json()
            created += len(body["created"])
            updated += len(body["updated"])
            for refused in body["rejected"]:
                line, item = chunk[refused["index"]]
                rejected.append(RejectedRow(line, item.external_id, refused["reason"]))
            progress.advance(task, len(chunk))
    console.print(f"{created} volunteers registered, {updated} updated, {len(rejected)} refused")
    for row in sorted(rejected, key=lambda r: r.line):
        console.print(f"  line {row.line} ({row.external_id or '-'}): {row.reason}")
    if report is not None:
        report.write_text(write_report(rejected), encoding="utf-8")
    raise typer.Exit(2 if rejected else 0)


@app.command("erase")
def erase(
    volunteer_id: UUID = typer.Argument(..., help="the volunteer's id (from the registry)"),
    reason: ErasureReason = typer.Option(ErasureReason.DATA_SUBJECT_REQUEST),
    url: str = typer.Option("http://127.0.0.1:8106", envvar="SIGNAALPUNT_MATCHING_URL"),
    token: str = typer.Option(..., envvar="SIGNAALPUNT_TOKEN", help="a coordinator's token"),
) -> None:
    """Erase a volunteer's personal data (their request; AVG art. 17): key shredded, open
    proposals to the next volunteer, open matches ended. Remove them from your CSV too, or a
    re-import registers them again."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as client:
        answer = client.post(
            f"/v1/matching/volunteers/{volunteer_id}/erasure", json={"reason": reason.value}
        )
    if answer.status_code != 200:
        console.print(f"[red]the service refused the erasure ({answer.status_code})")
        console.print(answer.text)
        raise typer.Exit(1)
    console.print(
        f"volunteer {volunteer_id} erased; {answer.json()['matches_ended']} open matches ended"
    )


if __name__ == "__main__":
    app()
