"""End to end: Debian's Prometheus scrapes the running metrics and intake services (every
second) with the project's rules loaded; a web-form signal goes through intake to the metrics
service, beside a scripted stream of events. Every dashboard expression and every recording and
alert rule is evaluated through Prometheus's HTTP API: each parses, and those the events make
meaningful return data (with at least SMALL_COUNT events where the dashboards suppress less)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
import yaml
from metrics_harness import MetricsHarness, free_port, private_group, private_topics
from metrics_scenario import (
    MIDDELBURG,
    TERNEUZEN,
    Step,
    key,
    received,
    scenario,
    step,
    triaged,
)
from metrics_tools import run, tool
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import CASE_STEPS, PARTNER_SIGNALS
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.main import build as build_intake
from signaalpunt_metrics import dashboards
from signaalpunt_metrics.handlers import MetricsTopics
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_runtime.serving import Served, ServiceApp, serving
from signaalpunt_testkit.plugin import Infra, TopicFactory

REPO = Path(__file__).resolve().parents[3]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
VARIABLES = {
    "$area": "consortium",
    "$period": "day",
    "$__range": "10m",
    "$__rate_interval": "30s",
    "$__interval": "5s",
}

# Panels the scripted stream fills (the others may rightly be empty: no exceptions, no outbox)
FILLED = {
    "Signals received",
    "Signals per channel (rolling 24 h)",
    "Signals per municipality in the last complete day",
    "Signals per 1,000 inhabitants (selected period)",
    "Route (the rules' decision)",
    "Risk groups",
    "Triage decisions: rules, coordinators and overrides",
    "Progress towards each goal",
    "Goals: rates against their baseline",
    "Acute alerts waiting",
    "Oldest acute alert waiting",
    "Overdue signals",
    "Open signals by state",
    "Overdue signals by route",
    "Time to first contact (median and 90th percentile, rolling 7 days)",
    "Time to triage (median and 90th percentile, rolling 7 days)",
    "First contact within three days (selected period)",
    "Services up",
    "Events handled per second",
    "Consumer lag",
    "Dead letters parked",
    "Notifications by outcome",
    "Events published from outboxes per second",
    "HTTP requests per second",  # intake answered the web form while Prometheus scraped
    # the mission dashboard, from the complete days of mission_signals()
    "Consortium: signals in the last complete $period",
    "$area: signals in the last complete $period",
    "$area: change against the $period before",
    "$area: signals per channel per $period",
    "$area: signals per channel per $period, with totals",
    "Municipalities and the consortium: signals per channel in the last complete $period",
    "Change against the $period before, per municipality",
    "$area: signals from partners per partner type per $period",
    "Signals per 1,000 inhabitants per $period",
    "Signals per 1,000 inhabitants in the last complete $period",
    # PostgreSQL's health from Debian's prometheus-postgres-exporter on the test's database;
    # Kafka's from the metrics service's own reading of the cluster's metadata (no registry here
    # ships kafka_exporter: its group-lag panel is only evaluated)
    "PostgreSQL up",
    "Kafka brokers",
    "Under-replicated partitions",
    "PostgreSQL connections",
    "PostgreSQL transactions per second",
}
FILLED_RULES = {
    "consortium_channel_partner_type:signaalpunt_signals_received:increase1d",
    "consortium:signaalpunt_signals_received:increase30d",
    "consortium:signaalpunt_signals_received_per_1000_inhabitants:increase30d",
    "consortium:signaalpunt_signals_overdue:sum",
    "group_topic:signaalpunt_consumer_lag:sum",
    "topic_group:signaalpunt_dead_letters:increase15m",
    "job_topic:signaalpunt_events_handled:rate5m",
    "SignaalpuntAcuteSignalNotPickedUp",
    "SignaalpuntDeadLettersGrowing",
}


WEB_FORM = {
    "channel": "web_form",
    "reporter": {"kind": "relative_or_neighbour", "phone": "0612345678", "may_contact": True},
    "subject": {"birth_year": 1941, "postcode": "4531 PX"},
    "concern": {"cues": ["lives_alone", "recently_bereaved"]},
}
"""A neighbour in Terneuzen, through intake's web form (anonymous: no token needed)."""


def extra_signals() -> list[Step]:
    """Six more Terneuzen web-form signals received now, triaged and contacted: enough to pass
    the small-count rule."""
    steps: list[Step] = []
    for n in range(20, 26):
        s = received(n, TERNEUZEN, "web_form")
        steps.append(s)
    for n in range(20, 26):
        steps += [
            triaged(
                n,
                TERNEUZEN,
                "web_form",
                decision=1,
                route="team_welzijn",
                priority="normal",
                risk_groups=("senior_75_plus",),
            ),
            step(
                n,
                TERNEUZEN,
                "reporter_contacted",
                "triaged",
                "in_intake",
                "team_welzijn",
                timedelta(hours=5),
            ),
        ]
    return steps


def mission_signals() -> list[Step]:
    """Signals on the last two complete days (the mission dashboard shows complete periods):
    yesterday 6 by phone in Terneuzen and in Middelburg and 5 from GPs through the partner
    portal in Terneuzen, the day before 6 by phone in Terneuzen."""
    today = datetime.now(AMSTERDAM).date()
    yesterday = datetime.combine(today - timedelta(days=1), time(12), tzinfo=AMSTERDAM)
    before = yesterday - timedelta(days=1)
    batches = [
        (TERNEUZEN, "phone", None, yesterday, 6),
        (MIDDELBURG, "phone", None, yesterday, 6),
        (TERNEUZEN, "partner_portal", "huisarts", yesterday, 5),
        (TERNEUZEN, "phone", None, before, 6),
    ]
    steps: list[Step] = []
    n = 800
    for municipality, channel, partner_type, at, count in batches:
        for _ in range(count):
            n += 1
            steps.append(received(n, municipality, channel, partner_type, at=at))
    return steps


def goals_file(folder: Path) -> Path:
    """A goal whose baseline holds the scenario's signals (two days ago) and whose measurement
    period holds the extra ones (today), so every goal figure exists."""
    today = datetime.now(UTC).date()
    path = folder / "goals.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "goals": [
                    {
                        "name": "test-rate",
                        "description": "test",
                        "baseline": {
                            "from": str(today - timedelta(days=10)),
                            "until": str(today - timedelta(days=1)),
                        },
                        "period": {
                            "from": str(today - timedelta(days=1)),
                            "until": str(today + timedelta(days=30)),
                        },
                        "target_change": 0.2,
                    }
                ]
            }
        )
    )
    return path


class Prometheus:
    def __init__(self, folder: Path, targets: dict[str, str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in RULES],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            tool("prometheus"),
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.folder / "prometheus.log").open("wb"),
        )
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            for _ in range(200):
                try:
                    if (await client.get("/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("Prometheus did not become ready: " + self.log())

    def log(self) -> str:
        return (self.folder / "prometheus.log").read_text()[-3000:]

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)

    async def query(self, expr: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get("/api/v1/query", params={"query": expr})
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, (expr, body)
        assert body["status"] == "success", (expr, body)
        return body

    async def get(self, path: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            body: dict[str, Any] = (await client.get(path)).json()
        return body

    async def wait_for(self, expr: str, timeout: float = 60) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = await self.query(expr)
            if body["data"]["result"]:
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no data for {expr}: " + self.log())
            await asyncio.sleep(0.5)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[MetricsHarness, Prometheus, Served]]:
    folder = tmp_path_factory.mktemp("prometheus")
    group = private_group()
    topics, watched = await private_topics(kafka_topics.private, group)
    metrics = MetricsHarness(
        bootstrap=infra.kafka_bootstrap,
        database_url=database_url,
        topics=topics,
        watched=watched,
        group=group,
        settings={"goals_file": goals_file(folder)},
    )
    await metrics.producer.start()
    await metrics.start()
    intake_app = await _intake(infra, database_url, folder, topics, kafka_topics)
    exporter_port = free_port()
    exporter = await asyncio.create_subprocess_exec(
        tool("prometheus-postgres-exporter"),
        f"--web.listen-address=127.0.0.1:{exporter_port}",
        env={**os.environ, "DATA_SOURCE_NAME": f"{database_url}?sslmode=disable"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(folder / "postgres-exporter.log").open("wb"),
    )
    async with serving(intake_app) as intake:
        prometheus = Prometheus(
            folder,
            {
                "metrics": f"127.0.0.1:{metrics.port}",
                "intake": f"127.0.0.1:{intake.management_port}",
                "postgres": f"127.0.0.1:{exporter_port}",
            },
        )
        await prometheus.start()
        try:
            yield metrics, prometheus, intake
        finally:
            await prometheus.stop()
            await metrics.stop()
            exporter.terminate()
            await asyncio.wait_for(exporter.wait(), 30)
        await metrics.producer.stop()


async def _intake(
    infra: Infra,
    database_url: str,
    folder: Path,
    topics: MetricsTopics,
    kafka_topics: TopicFactory,
) -> ServiceApp:
    """Intake (services/intake) writing to the metrics service's private received topic."""
    keys = folder / "intake-keys"
    keys.mkdir()
    generate_key_pair(keys)
    generate_partner_keys(keys / "partner-key.json", keys / "partner-jwks.json", kid="test")
    settings = IntakeSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=KeyEncryptionKeys.generate_spec("test"),  # type: ignore[arg-type]
        blind_index_key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        partner_decryption_key_file=keys / "partner-key.json",
        outbox_poll_interval=0.2,
    )
    partner_signals = await kafka_topics.private(PARTNER_SIGNALS, "partner.signals.v1")
    case_steps = await kafka_topics.private(
        CASE_STEPS, "intake.cases.steps.v1", consumers=("intake",)
    )
    _, app = build_intake(
        settings,
        received=topics.received,
        partner_signals=partner_signals,
        rejections=topics.rejections,
        case_steps=case_steps,
    )
    return app


def _lag(samples: dict[Any, float], group: str) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "signaalpunt_consumer_lag" and ("group", group) in labels
    )


def dashboard_targets() -> list[tuple[str, str, str]]:
    found = []
    for name, content in dashboards.render().items():
        for panel in json.loads(content)["panels"]:
            for target in panel.get("targets", []):
                found.append((name, panel["title"], target["expr"]))
    return found


def with_variables(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


async def test_prometheus_evaluates_every_dashboard_expression_and_rule(
    stack: tuple[MetricsHarness, Prometheus, Served],
) -> None:
    metrics, prometheus, intake = stack
    await prometheus.wait_for('up{job="metrics"} == 1')
    await prometheus.wait_for('up{job="intake"} == 1')
    await prometheus.wait_for("pg_up == 1")
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        answer = await client.post("/v1/signals", json=WEB_FORM)
    assert answer.status_code == 202, answer.text
    # the events arrive while Prometheus watches, so increase() sees them
    s = scenario()
    for batch in (s.first, s.second, extra_signals(), mission_signals()):
        await metrics.publish(batch)
        await asyncio.sleep(1.5)
    await metrics.publish_raw(metrics.topics.received, b"not an envelope", key="broken")
    await metrics.wait_for(
        {key("signaalpunt_signals_received_total", channel="web_form", partner_type="none"): 9}
    )
    await metrics.wait_for(
        {key("signaalpunt_signal_time_to_first_contact_seconds_count", route="team_welzijn"): 7}
    )
    # every topic handled, then seen by Prometheus
    await metrics.wait_until(lambda samples: _lag(samples, metrics.group) == 0)
    await prometheus.wait_for(f'sum(signaalpunt_consumer_lag{{group="{metrics.group}"}}) == 0')
    await prometheus.wait_for('max(signaalpunt_signals_received_total{channel="web_form"}) >= 9')
    await asyncio.sleep(3)  # a few more scrapes and rule evaluations

    with_data: set[str] = set()
    for _, title, expr in dashboard_targets():
        body = await prometheus.query(with_variables(expr))  # every one parses and evaluates
        if body["data"]["result"]:
            with_data.add(title)
    missing = FILLED - with_data
    assert not missing, f"panels without data: {sorted(missing)}"
    assert {title for _, title, _ in dashboard_targets()} >= FILLED

    rules = (await prometheus.get("/api/v1/rules"))["data"]["groups"]
    evaluated = {r["name"]: r for g in rules for r in g["rules"]}
    configured = {
        r.get("record") or r["alert"]: r["expr"]
        for path in RULES
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
    }
    assert set(evaluated) == set(configured)
    for name, rule in evaluated.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
    no_data = [
        name
        for name in FILLED_RULES
        if not (await prometheus.query(configured[name]))["data"]["result"]
    ]
    assert not no_data, no_data
    # promtool accepts both services' /metrics output
    promtool = tool("promtool")
    for url in (metrics.base_url, intake.management_url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            text = (await client.get("/metrics")).text
        code, out = await run(promtool, "check", "metrics", stdin=text)
        assert code == 0, (url, out)

    alerts = {
        a["labels"]["alertname"] for a in (await prometheus.get("/api/v1/alerts"))["data"]["alerts"]
    }
    assert {"SignaalpuntAcuteSignalNotPickedUp", "SignaalpuntDeadLettersGrowing"} <= alerts
