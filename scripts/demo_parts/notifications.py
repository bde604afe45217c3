"""The notifications part of `make demo`: local receivers, and a report of what they received.

    env, sinks = start_sinks()          # before the services start
    procs = run_all.start({**extra, **env}, ports, ...)
    ...                                 # the scenario runs; notifications sends
    summary = report(sinks, console)    # a table of what arrived (never an address)
    sinks.stop()

`start_sinks` starts an SMTP sink and an HTTP receiver (SMS gateway and partners' webhooks) on free
ports, writes a partners file whose webhooks point at the receiver, and returns the settings the
notifications service needs. `report` looks each received message up in the delivery log by its
id (Message-ID, SMS reference, webhook-id) to name its template, language and kind of recipient.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from rich.console import Console
from rich.table import Table
from signaalpunt_notifications.config import HERE as PACKAGE
from signaalpunt_notifications.config import development_webhook_secret
from signaalpunt_notifications.sinks import Sinks

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "notifications.signaalpunt.example"
DATABASE = "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"


def start_sinks() -> tuple[dict[str, str], Sinks]:
    sinks = Sinks().start()
    partners = yaml.safe_load((PACKAGE / "partners.yaml").read_text())
    for partner in partners["partners"]:
        if partner.get("webhook"):
            slug = partner["urn"].rsplit(":", 1)[-1]
            partner["webhook"]["url"] = sinks.webhook_url(slug)
            # the packaged file has no secrets: the demo's partners get development ones
            partner["webhook"]["secret"] = development_webhook_secret()
    folder = REPO / ".local" / "demo-notifications"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "partners.yaml"
    path.write_text(yaml.safe_dump(partners, sort_keys=False))
    env = {
        **sinks.env(),
        "SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE": str(path),
        # the demo is short: retry soon, and let every message through at once
        "SIGNAALPUNT_NOTIFICATIONS_BACKOFF_INITIAL": "PT1S",
        "SIGNAALPUNT_NOTIFICATIONS_SENDER_POLL_INTERVAL": "0.2",
        "SIGNAALPUNT_NOTIFICATIONS_RATE_LIMIT": "1000",
    }
    return env, sinks


def _received(sinks: Sinks) -> list[tuple[str, str, str]]:
    """(channel, delivery id, first line) of everything the sinks accepted."""
    got = sinks.received
    with got.lock:
        items = [
            ("email", m.message_id.removeprefix("<").split("@", 1)[0], m.subject) for m in got.mails
        ]
        items += [("sms", r.json()["reference"], r.json()["body"]) for r in got.sms]
        items += [
            ("webhook", r.headers["webhook-id"], r.json()["data"].get("message", ""))
            for r in got.webhooks
        ]
    return items


async def _lookup(ids: list[str]) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(os.environ.get("SIGNAALPUNT_DATABASE_URL", DATABASE))
    try:
        rows = await conn.fetch(
            "SELECT delivery_id::text AS id, template, language, recipient_kind, municipality"
            " FROM notifications.deliveries WHERE delivery_id::text = ANY($1::text[])",
            ids,
        )
    finally:
        await conn.close()
    return {row["id"]: dict(row) for row in rows}


def _lookup_blocking(ids: list[str]) -> dict[str, dict[str, Any]]:
    # a thread of its own: works whether or not the caller runs an event loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _lookup(ids)).result()


def wait_quiet(sinks: Sinks, seconds: float = 3.0, timeout: float = 60.0) -> None:
    """Wait until nothing new arrived for `seconds` (the sender has caught up)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(_received(sinks))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.2)


def report(sinks: Sinks, console: Console) -> dict[str, Any]:
    items = _received(sinks)
    known = _lookup_blocking(sorted({i for _, i, _ in items}))
    copies = Counter(i for _, i, _ in items)
    table = Table(title="Notifications: what the receivers got (no addresses)")
    for column in ("channel", "municipality", "recipient", "template", "lang", "subject / text"):
        table.add_column(column, overflow="fold")
    shown: set[str] = set()
    for channel, delivery_id, line in items:
        if delivery_id in shown:
            continue  # a second copy (same id): counted below, shown once
        shown.add(delivery_id)
        d = known.get(delivery_id, {})
        table.add_row(
            channel,
            d.get("municipality", "?"),
            d.get("recipient_kind", "?"),
            d.get("template", "?"),
            d.get("language", "?"),
            line if len(line) <= 90 else line[:87] + "…",
        )
    console.print(table)
    by_template = Counter(known.get(i, {}).get("template", "?") for i in copies)
    summary = {
        "emails": sum(1 for c, _, _ in items if c == "email"),
        "sms": sum(1 for c, _, _ in items if c == "sms"),
        "webhooks": sum(1 for c, _, _ in items if c == "webhook"),
        "distinct": len(copies),
        "duplicates": sum(n - 1 for n in copies.values()),
        "by_template": dict(by_template),
    }
    console.print(
        f"{summary['distinct']} messages ({summary['emails']} e-mails, {summary['sms']} SMS, "
        f"{summary['webhooks']} webhooks); second copies (same id, discardable): "
        f"{summary['duplicates']}"
    )
    return summary
