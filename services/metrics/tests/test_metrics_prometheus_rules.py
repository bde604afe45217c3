"""deploy/prometheus: both scrape configurations are valid and list every service, and the
recording and alert rules pass their `promtool test rules` unit tests."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml
from metrics_tools import run, tool

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"


def _jobs(config: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(config.read_text())
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in data["scrape_configs"]
    }


def _services() -> dict[str, int]:
    """SERVICES of scripts/run_all.py: what `make run` starts, with its port."""
    tree = ast.parse((REPO / "scripts" / "run_all.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "SERVICES":
            assert node.value is not None
            return {name: port for name, _, port in ast.literal_eval(node.value)}
    raise AssertionError("no SERVICES in scripts/run_all.py")


async def test_configurations_are_valid() -> None:
    promtool = tool("promtool")
    for config in ("prometheus.yml", "prometheus.local.yml"):
        code, out = await run(promtool, "check", "config", str(PROMETHEUS / config))
        assert code == 0, out


def test_every_service_of_make_run_is_scraped_in_both_configurations() -> None:
    compose, local = (
        _jobs(PROMETHEUS / "prometheus.yml"),
        _jobs(PROMETHEUS / "prometheus.local.yml"),
    )
    assert set(compose) == set(local)
    # a service's relay process (role relay, compose's `<service>-relay`) is that service's too
    containers = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    relays = {c.removesuffix("-relay") for c in containers if c.endswith("-relay")}
    for name, port in _services().items():
        management = port + 1000  # /metrics is on the management port, never the API's
        relay = [f"{name}-relay:{management}"] if name in relays else []
        assert compose[name] == [f"{name}:{management}", *relay]
        assert local[name] == [f"127.0.0.1:{management}"]


async def test_alert_and_recording_rules_pass_their_unit_tests() -> None:
    promtool = tool("promtool")
    code, out = await run(
        promtool,
        "test",
        "rules",
        *(str(p) for p in sorted((PROMETHEUS / "tests").glob("*_test.yml"))),
    )
    assert code == 0, out
    assert "SUCCESS" in out


def test_every_alert_has_a_unit_test() -> None:
    alerts = {rule["alert"] for rule in _alerts()}
    tests = [
        t
        for f in (PROMETHEUS / "tests").glob("*_test.yml")
        for t in yaml.safe_load(f.read_text())["tests"]
    ]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    assert alerts == tested


def _alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load((PROMETHEUS / "rules" / "signaalpunt-alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_every_alert_has_a_severity_and_a_runbook_that_says_what_to_do() -> None:
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "critical", "warning", "info"}, name
        url = alert["annotations"]["runbook_url"]
        assert url.endswith(f"/docs/runbooks/{name}.md"), (name, url)
        runbook = REPO / "docs" / "runbooks" / f"{name}.md"
        assert runbook.is_file(), f"no runbook for {name}"
        text = runbook.read_text()
        for part in ("What it means", "How to confirm", "How to fix", "How to verify"):
            assert f"## {part}" in text, f"{runbook.name} has no '{part}'"


async def test_alertmanager_routes_by_severity() -> None:
    amtool = tool("amtool")
    config = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
    code, out = await run(amtool, "check-config", str(config))
    assert code == 0, out
    expected = {
        "page": "on-call-page",  # the acute path pages
        "critical": "on-call",
        "warning": "operators",
        "info": "null",
        "none": "development",  # an alert without a severity still reaches someone
    }
    for severity, receiver in expected.items():
        code, out = await run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={receiver}",
            "alertname=Probe",
            *([f"severity={severity}"] if severity != "none" else []),
        )
        assert code == 0, (severity, out)
