"""deploy/grafana: the committed dashboards are what the code generates, and they point at the
provisioned datasource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel
from signaalpunt_metrics import dashboards

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "deploy" / "grafana"
SDK_FOR_GRAFANA_12 = "1769699241"
"""grafana-foundation-sdk's build for Grafana "next" (12): its versions carry an epoch, and the
10.1 build has the highest, so only a pin gets this one."""


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


def test_no_dashboard_reads_a_running_figure_per_municipality_and_panel_ids_are_unique() -> None:
    """Per municipality only the mission's suppressed figures (label `area`) exist; the
    `municipality` label is gone from /metrics, and no query or variable may count on it."""
    for content in dashboards.render().values():
        dashboard = json.loads(content)
        assert "municipality" not in json.dumps(
            [[t.get("expr", "") for t in p.get("targets", [])] for p in panels(dashboard)]
        )
        assert "municipality" not in [v["name"] for v in dashboard["templating"].get("list", [])]
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids))


def test_the_provisioned_folder_is_where_compose_mounts_the_dashboards() -> None:
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/signaalpunt.yaml").read_text()
    )["providers"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def _without_empty(value: Any) -> Any:
    """The SDK reads an absent plugin block back as an empty one ({}): the same to Grafana."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v != {}}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def test_every_dashboard_reads_back_through_the_sdk_of_the_grafana_we_run() -> None:
    """The pinned SDK (pyproject) is the one for the Grafana in compose.yaml; each generated
    dashboard parses into its models, every panel's options into its plugin's own type (a
    `"options": null` did not), and writes back to the same JSON."""
    register_default_plugins()
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    grafana_major = int(compose["services"]["grafana"]["image"].split(":")[1].split(".")[0])
    assert grafana_major == 12
    assert version("grafana-foundation-sdk") == SDK_FOR_GRAFANA_12
    for name, content in dashboards.render().items():
        raw = json.loads(content)
        assert raw["schemaVersion"] == 41, name  # Grafana 12's dashboard schema
        model = Dashboard.from_json(raw)
        again = json.loads(json.dumps(model, cls=JSONEncoder, sort_keys=True))
        assert _without_empty(again) == _without_empty(raw), name
        assert '"options": null' not in content, name
        for panel in model.panels or []:
            if isinstance(panel, Panel) and panel.options is not None:  # absent: the defaults
                assert type(panel.options).__module__.endswith(panel.type_val), panel.title


def test_panels_link_to_the_runbooks_of_their_alerts() -> None:
    alerts = {
        rule["alert"]
        for path in (REPO / "deploy/prometheus/rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    linked: set[str] = set()
    for content in dashboards.render().values():
        for panel in panels(json.loads(content)):
            for link in panel.get("links", []):
                alert = link["url"].removeprefix(dashboards.RUNBOOKS).removesuffix(".md")
                assert (REPO / "docs/runbooks" / f"{alert}.md").exists(), link
                assert alert in alerts, link
                linked.add(alert)
    missing = alerts - linked
    assert not missing, f"alerts no panel links to: {sorted(missing)}"
