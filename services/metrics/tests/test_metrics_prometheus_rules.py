"""deploy/prometheus: both scrape configurations are valid and list every service, and the
recording and alert rules pass their `promtool test rules` unit tests."""

from __future__ import annotations

import ast
from pathlib import Path

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
    for name, port in _services().items():
        management = port + 1000  # /metrics is on the management port, never the API's
        assert compose[name] == [f"{name}:{management}"]
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
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS / "rules" / "signaalpunt-alerts.yml").read_text())[
            "groups"
        ]
        for rule in group["rules"]
    }
    tests = [
        t
        for f in (PROMETHEUS / "tests").glob("*_test.yml")
        for t in yaml.safe_load(f.read_text())["tests"]
    ]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    assert alerts == tested
