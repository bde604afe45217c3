"""One owner per metric name: no two services export a metric of the same name (a dashboard or
alert summing it would add figures with different meanings). Names are read from where the
services declare them (prometheus-client's constructors and the metrics service's families)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DECLARED = re.compile(
    r"(?:Counter|Gauge|Histogram|Summary|Info|Enum|MetricFamily|\.counter|\.gauge|\.histogram)"
    r"\(\s*\"(signaalpunt_[a-z0-9_]+)\""
)


def _owners() -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for source in REPO.glob("services/*/src/**/*.py"):
        service = source.relative_to(REPO).parts[1]
        for name in DECLARED.findall(source.read_text()):
            owners.setdefault(name.removesuffix("_total"), set()).add(service)
    return owners


def test_the_scan_finds_the_services_metrics() -> None:
    owners = _owners()
    assert owners["signaalpunt_notifications_deliveries"] == {"notifications"}
    assert owners["signaalpunt_signals_received"] == {"metrics"}


def test_every_metric_name_has_one_owner() -> None:
    shared = {name: sorted(services) for name, services in _owners().items() if len(services) > 1}
    assert not shared, f"exported by more than one service: {shared}"


DECLARATION = re.compile(
    r"(?:Counter|Gauge|Histogram|Summary|MetricFamily|_Family|Duration)"
    r"\((?P<args>(?:[^()]|\([^()]*\))*)\)"  # the arguments, with one level of parentheses
)


def test_no_metric_has_a_municipality_label() -> None:
    """A running figure per municipality tells each signal of a small one by its step between
    two scrapes (docs/metrics.md): the services' own metrics and the metrics service's running
    figures are the consortium's; per municipality only the mission's suppressed periods exist
    (their label is `area`)."""
    found = []
    for source in REPO.glob("services/*/src/**/*.py"):
        for declared in DECLARATION.finditer(source.read_text()):
            if re.search(r"[\"']municipality[\"']", declared["args"]):
                found.append(f"{source.relative_to(REPO)}: {declared[0][:80]}")
    assert found == []
