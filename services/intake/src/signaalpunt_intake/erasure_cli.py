"""`signaalpunt-erasure`: the coordinators' erasure workflow (AVG art. 17), the right of access
(art. 15) and the access log from a shell.

It calls intake's API with the coordinator's own token, so the same checks apply (role
coordinator, municipality, four eyes, open acute cases):

    export SIGNAALPUNT_TOKEN=…                 # the coordinator's bearer token
    signaalpunt-erasure search GM0715 --name "J. de Vries" --birth-year 1938 --postcode "4531 PX"
    signaalpunt-erasure search GM0715 --signal 01a2…
    signaalpunt-erasure request GM0715 01a2… 01a3… --reason data_subject_request [--reporter-only]
                                                   [--confirm-open-acute]
    signaalpunt-erasure approve <erasure id>   # another coordinator (four eyes)
    signaalpunt-erasure status <erasure id>
    signaalpunt-erasure export GM0715 01a2… 01a3… [--out person.json]   # AVG art. 15, logged
        [--service triage=http://127.0.0.1:8102 --service referral=http://127.0.0.1:8105
         --service matching=http://127.0.0.1:8106]      # one answer across the services
    signaalpunt-erasure access-log GM0715 [--signal 01a2…] [--subject …] [--since …]
                                          [--url http://127.0.0.1:8102]  # triage's log
    signaalpunt-erasure chain GM0715          # is the municipality's access log intact?
"""

from __future__ import annotations

import json
import os
from pathlib import Path
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


def _call(
    url: str, token: str, method: str, path: str, body: Any = None, *, params: Any = None
) -> dict[str, Any]:
    answer = httpx.request(
        method,
        f"{url}{path}",
        json=body,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
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


@app.command()
def export(
    municipality: str,
    signal_ids: list[str],
    *,
    out: Path | None = typer.Option(None, help="write the JSON here (default: standard output)"),
    service: list[str] = typer.Option(
        [],
        help="also ask this service, as NAME=URL (triage, referral, matching; repeatable)",
    ),
    url: str = Url,
    token: str = Token,
) -> None:
    """Everything held on the person's confirmed signals, decrypted (AVG art. 15): intake's
    export, and with --service each named service's part and its access log."""
    body = {"municipality": municipality, "signal_ids": signal_ids}
    answer: dict[str, Any] = _call(url, token, "POST", "/v1/subject-access/export", body)
    if service:
        answer = {"intake": answer} | {
            name: _held_by(name, base, token, municipality, answer)
            for name, base in _services(service)
        }
    text = json.dumps(answer, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        out.chmod(0o600)  # personal data: for the coordinator's eyes only
        console.print(f"wrote {out}")


SIGNAL_PAGES: dict[str, str | None] = {
    "triage": "/v1/triage/signals/{signal_id}",
    "referral": "/v1/referral/signals/{signal_id}",
    "matching": "/v1/matching/signals/{signal_id}",
    "notifications": None,  # its access log only: every message sent about the signal
}
"""Each service's page of one signal with the person's data, for a coordinator (logged there)."""


def _services(given: list[str]) -> list[tuple[str, str]]:
    pairs = [tuple(s.split("=", 1)) for s in given]
    unknown = [p[0] for p in pairs if len(p) != 2 or p[0] not in SIGNAL_PAGES]
    if unknown:
        console.print(
            f"[red]unknown service(s): {', '.join(unknown)}; known: {sorted(SIGNAL_PAGES)}"
        )
        raise typer.Exit(2)
    return [(name, base.rstrip("/")) for name, base in pairs]


def _held_by(
    name: str, base: str, token: str, municipality: str, intake_part: dict[str, Any]
) -> dict[str, Any]:
    """One service's part of the answer: its page of each signal (null: it holds nothing) and
    its access-log entries about the signals and the person. The coordinator's own token, so
    each service checks and logs the read itself; a service that cannot be asked stops the
    export (an answer that leaves a service out silently would be wrong)."""
    signals = [s["signal_id"] for s in intake_part["signals"]]
    subjects = [s["subject_id"] for s in intake_part["signals"]]
    held: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    page_path = SIGNAL_PAGES[name]
    for signal_id in signals if page_path else ():
        try:
            assert page_path is not None
            page = httpx.get(
                base + page_path.format(signal_id=signal_id), headers=headers, timeout=30
            )
        except httpx.HTTPError as exc:
            console.print(f"[red]{name} at {base} cannot be asked: {exc}")
            raise typer.Exit(1) from exc
        if page.status_code == 404:
            held[signal_id] = None
            continue
        if page.is_error:
            console.print(f"[red]{name}: {page.status_code}[/red] {page.text}")
            raise typer.Exit(1)
        held[signal_id] = page.json()
    params = {"municipality": municipality, "signal_id": signals, "subject_id": subjects}
    log = _call(base, token, "GET", "/v1/access-log", params=params | {"limit": 1000})
    return {"signals": held, "accessed": log["entries"]}


@app.command("access-log")
def access_log(
    municipality: str,
    *,
    signal: list[str] = typer.Option([], help="a signal (repeatable)"),
    subject: list[str] = typer.Option([], help="a person's pseudonymous id (repeatable)"),
    since: str = typer.Option(None, help="ISO 8601 time"),
    until: str = typer.Option(None, help="ISO 8601 time"),
    limit: int = typer.Option(100),
    url: str = Url,
    token: str = Token,
) -> None:
    """Who processed personal data in the municipality (the service at --url), newest first."""
    params: dict[str, Any] = {"municipality": municipality, "limit": limit}
    params |= {"signal_id": signal, "subject_id": subject}
    params |= {k: v for k, v in (("since", since), ("until", until)) if v}
    page = _call(url, token, "GET", "/v1/access-log", params=params)
    for e in page["entries"]:
        console.print(
            f"{e['at']}  {e['actor']} ({','.join(e['roles'])})  {e['activity']}  "
            f"{e['operation']}  signal {e['signal_id']}  {e['purpose']}  {e['outcome']}"
        )
    console.print(f"{len(page['entries'])} entr{'y' if len(page['entries']) == 1 else 'ies'}")


@app.command()
def chain(municipality: str, url: str = Url, token: str = Token) -> None:
    """Whether the municipality's access log (of the service at --url) is intact."""
    check = _call(url, token, "GET", "/v1/access-log/chain", params={"municipality": municipality})
    if check["intact"]:
        console.print(
            f"intact: {check['entries']} entries ({check['first_seq']}–{check['last_seq']})"
        )
        return
    console.print(f"[red]broken[/red] at entry {check['broken_at']}")
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
