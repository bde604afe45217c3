"""`signaalpunt-erasure`: the coordinators' erasure workflow from a shell (AVG art. 17).

It calls intake's `/v1/erasures` API with the coordinator's own token, so the same checks apply
(role coordinator, municipality, four eyes, open acute cases):

    export SIGNAALPUNT_TOKEN=…                 # the coordinator's bearer token
    signaalpunt-erasure search GM0715 --name "J. de Vries" --birth-year 1938 --postcode "4531 PX"
    signaalpunt-erasure search GM0715 --signal 01a2…
    signaalpunt-erasure request GM0715 01a2… 01a3… --reason data_subject_request [--reporter-only]
                                                   [--confirm-open-acute]
    signaalpunt-erasure approve <erasure id>   # another coordinator (four eyes)
    signaalpunt-erasure status <erasure id>
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from rich.console import Console
from signaalpunt_contracts import ErasureReason

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(width=120)

Url = typer.Option(
    os.environ.get("SIGNAALPUNT_INTAKE_URL", "http://127.0.0.1:8101"), help="intake's base URL"
)
Token = typer.Option(
    os.environ.get("SIGNAALPUNT_TOKEN", ""),
    help="the coordinator's bearer token (default: $SIGNAALPUNT_TOKEN)",
    show_default=False,
)


def _call(url: str, token: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    answer = httpx.request(
        method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    payload: dict[str, Any] = answer.json() if answer.content else {}
    if answer.is_error:
        console.print(f"[red]{answer.status_code}[/red] {payload.get('detail', answer.text)}")
        for error in payload.get("errors", []):
            console.print(f"  {error}")
        raise typer.Exit(1)
    return payload


def _show(erasure: dict[str, Any]) -> None:
    console.print(
        f"erasure {erasure['erasure_id']}: {erasure['state']} ({erasure['scope']}, "
        f"{erasure['reason']}, {len(erasure['signal_ids'])} signal(s))"
    )


@app.command()
def search(
    municipality: str,
    *,
    name: str = typer.Option(None, help="the person's name as reported"),
    birth_year: int = typer.Option(None),
    postcode: str = typer.Option(None),
    signal: list[str] = typer.Option([], help="a signal of the person (repeatable)"),
    url: str = Url,
    token: str = Token,
) -> None:
    """The signals the blind index links to the person: confirm which are really theirs."""
    body = {
        "municipality": municipality,
        "name": name,
        "birth_year": birth_year,
        "postcode": postcode,
        "signal_ids": signal,
    }
    found = _call(url, token, "POST", "/v1/erasures/search", body)["candidates"]
    for c in found:
        acute = "  OPEN ACUTE CASE" if c["open_acute"] else ""
        console.print(
            f"{c['signal_id']}  {c['received_at']}  {c['channel']}  {c['handling']}{acute}"
        )
    console.print(f"{len(found)} candidate(s)")


@app.command()
def request(
    municipality: str,
    signal_ids: list[str],
    *,
    reason: ErasureReason = typer.Option(...),
    reporter_only: bool = typer.Option(False, help="erase only the reporter's details"),
    confirm_open_acute: bool = typer.Option(False, help="erase even with an open acute case"),
    url: str = Url,
    token: str = Token,
) -> None:
    """Erase the confirmed signals (with four eyes: once another coordinator approves)."""
    body = {
        "municipality": municipality,
        "signal_ids": signal_ids,
        "scope": "reporter" if reporter_only else "person",
        "reason": reason.value,
        "confirm_open_acute": confirm_open_acute,
    }
    _show(_call(url, token, "POST", "/v1/erasures", body))


@app.command()
def approve(erasure_id: str, url: str = Url, token: str = Token) -> None:
    """Four eyes: carry out another coordinator's erasure request."""
    _show(_call(url, token, "POST", f"/v1/erasures/{erasure_id}/approve"))


@app.command()
def status(erasure_id: str, url: str = Url, token: str = Token) -> None:
    _show(_call(url, token, "GET", f"/v1/erasures/{erasure_id}"))


if __name__ == "__main__":
    app()
