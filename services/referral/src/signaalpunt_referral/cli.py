"""`signaalpunt-social-map`: import and export the social map in HSDS JSON or CSV.

Goes through the referral service's coordinator API (so roles and municipalities are checked
where they always are), in batches of organisations with a progress bar, and prints the rows
that were refused with their reasons (optionally written to a CSV report).

    signaalpunt-social-map import kaart.json --token $TOKEN
    signaalpunt-social-map import ./hsds-csv/ --report geweigerd.csv
    signaalpunt-social-map export ./export/ --format csv
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .hsds import from_tables, to_tables

app = typer.Typer(help="The social map (Open Referral HSDS) in and out of the referral service.")
console = Console(stderr=True)

URL = typer.Option("http://127.0.0.1:8105", envvar="SIGNAALPUNT_REFERRAL_URL")
TOKEN = typer.Option(..., envvar="SIGNAALPUNT_TOKEN", help="a coordinator's bearer token")


def read_source(source: Path) -> tuple[list[dict[str, Any]], str]:
    """A JSON file, or a folder with the HSDS tables (organizations.csv, services.csv, …)."""
    if source.is_dir():
        tables = {p.name: p.read_text(encoding="utf-8") for p in sorted(source.glob("*.csv"))}
        if "organizations.csv" not in tables:
            raise typer.BadParameter(f"{source} has no organizations.csv")
        return from_tables(tables), "csv"
    document = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(document, list):
        raise typer.BadParameter("an HSDS JSON document is a list of organization objects")
    return document, "json"


def _where(where: str, offset: int, form: str) -> str:
    """Positions within a batch, turned into positions in the source."""
    head, _, rest = where.partition(",")
    if head.startswith("organization "):
        number = int(head.split()[1]) + offset
        line = f" (organizations.csv line {number + 1})" if form == "csv" else ""
        return f"organization {number}{line}{',' + rest if rest else ''}"
    return where


@app.command("import")
def import_map(
    source: Path = typer.Argument(..., exists=True, help="HSDS JSON file or CSV folder"),
    url: str = URL,
    token: str = TOKEN,
    batch: int = typer.Option(50, min=1, max=200, help="organisations per request"),
    report: Path | None = typer.Option(None, help="write the refused rows to this CSV"),
) -> None:
    """Import organisations and services; refused rows are listed with their reasons."""
    document, form = read_source(source)
    rejected: list[dict[str, str]] = []
    organisations = services = 0
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        Progress(
            TextColumn("[bold]social map"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("import", total=len(document))
        for start in range(0, len(document), batch):
            chunk = document[start : start + batch]
            answer = client.post("/v1/referral/map/import", json=chunk)
            if answer.status_code != 200:
                console.print(f"[red]refused ({answer.status_code}): {answer.text}")
                raise typer.Exit(1)
            body = answer.json()
            organisations += body["organisations"]
            services += body["services"]
            for row in body["rejected"]:
                rejected.append(
                    {
                        "where": _where(row["where"], start, form),
                        "id": row["id"] or "",
                        "reason": row["reason"],
                    }
                )
            progress.advance(task, len(chunk))
    console.print(f"imported {organisations} organisations, {services} services")
    if rejected:
        table = Table("where", "id", "reason", title=f"{len(rejected)} rows refused")
        for row in rejected:
            table.add_row(row["where"], row["id"], row["reason"])
        console.print(table)
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=["where", "id", "reason"])
            writer.writeheader()
            writer.writerows(rejected)
    raise typer.Exit(2 if rejected else 0)


@app.command("export")
def export_map(
    target: Path = typer.Argument(..., help="JSON file, or a folder for the CSV tables"),
    url: str = URL,
    token: str = TOKEN,
    form: str = typer.Option("json", "--format", help="json or csv"),
) -> None:
    """Export every service of your municipalities, with live status and open places."""
    if form not in {"json", "csv"}:
        raise typer.BadParameter("--format is json or csv")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        answer = client.get("/v1/referral/map/export", timeout=120)
    if answer.status_code != 200:
        console.print(f"[red]refused ({answer.status_code}): {answer.text}")
        raise typer.Exit(1)
    document = answer.json()
    if form == "json":
        target.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        target.mkdir(parents=True, exist_ok=True)
        for name, text in to_tables(document).items():
            (target / name).write_text(text, encoding="utf-8")
    count = sum(len(o.get("services", [])) for o in document)
    console.print(f"exported {len(document)} organisations, {count} services to {target}")


if __name__ == "__main__":
    app()
