"""`signaalpunt-notifications`: preview the templates, run local sinks.

signaalpunt-notifications preview                          every template, Dutch
signaalpunt-notifications preview --template X --language en
signaalpunt-notifications sinks                            SMTP :1025 and SMS/webhooks :1026
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from signaalpunt_contracts.notifications import MessageChannel

from .config import HERE, load_directory
from .templates import Templates

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(width=110)

EXAMPLE_SIGNAL = "01a20900-0000-7000-8000-00000000a1b2"


def example_values(template: str) -> dict[str, Any]:
    """Example data for each template: what the rules put in the context, nothing personal."""
    due = (datetime(2026, 11, 23, 8, 14, tzinfo=UTC) + timedelta(days=3)).isoformat()
    link = f"https://signaalpunt.example/staff/signals/{EXAMPLE_SIGNAL}"
    examples: dict[str, dict[str, Any]] = {
        "route_assignment": {
            "route": "team_eenzaamheid",
            "mailbox": "team_eenzaamheid",
            "priority": "high",
            "first_contact_due": due,
            "needs_review": True,
            "decision": 1,
            "rerouted_from": None,
            "link": link,
        },
        "coordinator_acute_alert": {
            "advice": ["involve_113_or_gp"],
            "first_contact_due": due,
            "link": link,
        },
        "coordinator_possible_acute": {"review_due": due, "link": link},
        "coordinator_review_missed": {"review_due": due, "link": link},
        "coordinator_deadline_missed": {
            "route": "team_welzijn",
            "priority": "normal",
            "state": "triaged",
            "first_contact_due": due,
            "link": link,
        },
        "partner_refusal": {
            "webhook_type": "signal.rejected",
            "partner": "urn:signaalpunt:partner:huisartsen-terneuzen-noord",
            "partner_event_id": "hap-2026-000124",
            "reason": "invalid",
            "detail": "2 validation error(s)",
            "field_errors": [],
            "rejected_at": "2026-11-23T10:03:00+01:00",
        },
        "organisation_referral": {
            "referral_id": "01a20900-0000-7000-8000-0000000000d1",
            "service_name": "Maatjesproject Humanitas",
            "needs": ["buddy", "social_contact"],
            "respond_by": due,
            "link": "https://signaalpunt.example/staff/referrals/01a20900",
        },
        "team_referral_update": {
            "service_name": "Rouw- en verliesgroep Humanitas",
            "status": "declined",
            "decline_reason": "waiting_list",
            "escalated": False,
            "link": link,
        },
        "volunteer_proposal": {
            "needs": ["buddy", "practical_help"],
            "respond_by": due,
            "link": "https://matching.signaalpunt.example/v1/matching/answers/eyJhbGciOi.x.y",
        },
        "social_worker_match_accepted": {
            "social_worker": "staff:welzijn-terneuzen-1",
            "needs": ["existential_conversation"],
            "match_id": "01a20900-0000-7000-8000-0000000000e8",
            "link": "https://signaalpunt.example/staff/matches/01a20900-0000-7000-8000-0000000000e8",
        },
        "coordinator_vog_expiring": {
            "volunteer_id": "01a20900-0000-7000-8000-0000000000b1",
            "vog_expires_on": "2026-12-20",
            "social_worker": "staff:welzijn-terneuzen-1",
            "link": "https://signaalpunt.example/staff/volunteers/01a20900-0000-7000-8000-0000000000b1",
        },
    }
    examples["social_worker_match_follow_up"] = examples["social_worker_match_accepted"]
    return {"signal_id": EXAMPLE_SIGNAL, **examples.get(template, {})}


@app.command()
def preview(
    template: str | None = typer.Option(None, help="one template; default: all"),
    language: str = typer.Option("nl", help="nl or en"),
    municipality: str = typer.Option("GM0715", help="whose name, phone and signature"),
    templates_dir: list[Path] = typer.Option([], help="extra template folders (searched first)"),
) -> None:
    """Render every template (or one) with example data, for every channel it has."""
    templates = Templates(templates_dir)
    directory = load_directory(
        HERE / "municipalities.yaml",
        HERE / "partners.yaml",
        staff_portal_url="https://signaalpunt.example/staff",
        signing=False,  # a preview signs nothing: the packaged file has no secrets
    )
    values = directory.municipality(municipality).template_values(language)
    names = [template] if template else templates.names()
    for name in names:
        for channel in templates.channels(name):
            rendered = templates.render(
                name, language, channel, example_values(name), values, directory.consortium
            )
            if channel is MessageChannel.EMAIL:
                body = f"[bold]Subject:[/bold] {rendered.subject}\n\n{rendered.text}"
            else:
                body = rendered.text
            console.print(
                Panel(body, title=f"{name} · {channel.value} · {language}", title_align="left"),
                markup=True,
            )


@app.command()
def rules() -> None:
    """The rule table: which event leads to which messages."""
    from rich.table import Table  # noqa: PLC0415

    from .rules import default_rules  # noqa: PLC0415

    table = Table(title="Notification rules")
    for column in ("rule", "on event", "what"):
        table.add_column(column)
    for rule in default_rules():
        table.add_row(rule.name, rule.event_type, rule.description)
    console.print(table)


@app.command()
def sinks(
    smtp_port: int = typer.Option(1025, help="SMTP sink"),
    http_port: int = typer.Option(1026, help="SMS gateway (/messages) and webhooks (/webhooks/…)"),
    host: str = typer.Option("127.0.0.1", help="0.0.0.0 inside a container"),
) -> None:
    """Run local receivers for `make run` and print what arrives (no addresses)."""
    from .sinks import Sinks  # noqa: PLC0415 - only this command needs it

    running = Sinks(smtp_port=smtp_port, http_port=http_port, host=host).start()
    console.print(f"SMTP sink on 127.0.0.1:{smtp_port}; SMS and webhooks on {running.sms_url}")
    seen = {"email": 0, "sms": 0, "webhook": 0}
    try:
        while True:
            time.sleep(1)
            received = running.received
            with received.lock:
                lines = {
                    "email": [m.subject for m in received.mails],
                    "sms": [str(r.json().get("body", "")) for r in received.sms],
                    "webhook": [str(r.json().get("type", "")) for r in received.webhooks],
                }
            for kind, texts in lines.items():
                for text in texts[seen[kind] :]:
                    console.print(f"{kind:8} {text}", markup=False)
                seen[kind] = len(texts)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    app()
