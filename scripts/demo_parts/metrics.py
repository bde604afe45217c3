"""The metrics part of `make demo`: after the scenario, what the metrics service counted.

    summary = await metrics.report(console)             # or report(console, base_url=...)

`report` waits (up to a minute) until the metrics service has handled every event of its topics
(its consumer lag is 0), scrapes its /metrics once, prints the headline figures as rich tables and
returns them as a dict (for the demo's own checks). This is the operator's view: the Grafana
dashboards hide counts below 5 per municipality and period; this table does not.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table
from signaalpunt_metrics.config import MetricsSettings, load_inhabitants

Samples = list[tuple[str, dict[str, str], float]]


async def _scrape(base_url: str) -> Samples:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/metrics")
        response.raise_for_status()
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def _lag(samples: Samples, group: str) -> float:
    return sum(
        v
        for name, labels, v in samples
        if name == "signaalpunt_consumer_lag" and labels["group"] == group
    )


async def _caught_up(base_url: str, patience: float) -> Samples:
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        samples = await _scrape(base_url)
        if _lag(samples, "metrics") == 0 or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(1)


def _sum_by(
    samples: Samples, metric: str, *labels: str, zeros: bool = False
) -> dict[tuple[str, ...], float]:
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    for name, sample_labels, value in samples:
        if name == metric:
            totals[tuple(sample_labels[label] for label in labels)] += value
    return {k: v for k, v in sorted(totals.items()) if v or zeros}


async def report(console: Console, base_url: str = "http://127.0.0.1:8104") -> dict[str, Any]:
    samples = await _caught_up(base_url, patience=60)
    names = {
        code: m.name
        for code, m in load_inhabitants(
            MetricsSettings.model_fields["inhabitants_file"].default
        ).items()
    }

    received = _sum_by(samples, "signaalpunt_signals_received_total", "municipality", "channel")
    table = Table(title="Signals received (metrics service)")
    channels = sorted({channel for _, channel in received})
    table.add_column("municipality")
    for channel in channels:
        table.add_column(channel, justify="right")
    table.add_column("per 1,000 inh. (365 d)", justify="right")
    per_1000 = _sum_by(
        samples, "signaalpunt_signals_received_365d_per_1000_inhabitants", "municipality"
    )
    for code in sorted({m for m, _ in received}):
        table.add_row(
            f"{names.get(code, code)} ({code})",
            *(str(int(received.get((code, c), 0))) for c in channels),
            f"{per_1000.get((code,), 0):.3f}",
        )
    console.print(table)

    partner_types = _sum_by(samples, "signaalpunt_signals_received_total", "partner_type")
    routes = _sum_by(samples, "signaalpunt_signals_triaged_total", "route")
    open_states = _sum_by(samples, "signaalpunt_signals_open", "state")
    notifications = _sum_by(samples, "signaalpunt_notifications_total", "status")
    lag = _sum_by(samples, "signaalpunt_consumer_lag", "group", zeros=True)
    dead = _sum_by(samples, "signaalpunt_dead_letters_total", "group", zeros=True)
    figures = Table(title="What became of them")
    figures.add_column("figure")
    figures.add_column("value")

    def line(label: str, values: dict[tuple[str, ...], float]) -> None:
        text = ", ".join(f"{'/'.join(k)} {int(v)}" for k, v in values.items()) or "–"
        figures.add_row(label, text)

    line("partner types", partner_types)
    line("route (rules)", routes)
    line("open by state", open_states)
    line("notifications by status", notifications)
    line("consumer lag by group", lag)
    line("dead letters by group", dead)
    console.print(figures)
    console.print(
        "[dim]operator view; the Grafana dashboards hide counts below 5 per municipality"
        " and period[/dim]"
    )
    return {
        "received": {f"{m}/{c}": v for (m, c), v in received.items()},
        "per_1000_inhabitants": {m: v for (m,), v in per_1000.items()},
        "partner_types": {k[0]: v for k, v in partner_types.items()},
        "routes": {k[0]: v for k, v in routes.items()},
        "open_by_state": {k[0]: v for k, v in open_states.items()},
        "notifications_by_status": {k[0]: v for k, v in notifications.items()},
        "consumer_lag": {k[0]: v for k, v in lag.items()},
        "dead_letters": {k[0]: v for k, v in dead.items()},
    }
