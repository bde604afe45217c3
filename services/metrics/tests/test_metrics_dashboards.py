"""deploy/grafana: the committed dashboards are what the code generates, and they point at the
provisioned datasource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from signaalpunt_metrics import dashboards

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "deploy" / "grafana"


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_committed_dashboards_equal_the_generated_ones() -> None:
    for name, content in dashboards.render().items():
        committed = GRAFANA / "dashboards" / name
        assert committed.exists(), f"{name} missing: python -m signaalpunt_metrics.dashboards"
        assert committed.read_text() == content, (
            f"{name} is stale: python -m signaalpunt_metrics.dashboards"
        )
    assert dashboards.main(["--check"]) == 0


def test_every_query_uses_the_provisioned_datasource() -> None:
    (source,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())[
        "datasources"
    ]
    for content in dashboards.render().values():
        dashboard = json.loads(content)
        for panel in panels(dashboard):
            if panel.get("targets"):
                assert panel["datasource"]["uid"] == source["uid"], panel["title"]


def test_every_dashboard_filters_by_municipality_and_has_unique_panel_ids() -> None:
    for content in dashboards.render().values():
        dashboard = json.loads(content)
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert "municipality" in names
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids))


def test_the_provisioned_folder_is_where_compose_mounts_the_dashboards() -> None:
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/signaalpunt.yaml").read_text()
    )["providers"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
