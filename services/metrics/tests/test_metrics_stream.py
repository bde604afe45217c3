"""The metrics service on the real Kafka and PostgreSQL: figures after a scripted stream of
events, with redelivery, a restart and a rebuild from the topics; promtool accepts /metrics."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from metrics_harness import MetricsHarness, read_model_figures
from metrics_scenario import EXPECTED_FINAL, EXPECTED_FIRST, Sample, key, scenario
from metrics_tools import run, tool
from rich.console import Console
from signaalpunt_metrics.config import HERE, load_inhabitants
from signaalpunt_metrics.domain import SMALL_COUNT

INHABITANTS = load_inhabitants(HERE / "inhabitants.yaml")


LIVE: dict[str, dict[Sample, float]] = {}
"""Figures from live consumption, for the rebuild test that follows."""


def _lag(samples: dict[Sample, float], group: str) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "signaalpunt_consumer_lag" and ("group", group) in labels
    )


def _caught_up(group: str) -> Callable[[dict[Sample, float]], bool]:
    def caught_up(samples: dict[Sample, float]) -> bool:
        lags = [k for k in samples if k[0] == "signaalpunt_consumer_lag"]
        return bool(lags) and _lag(samples, group) == 0

    return caught_up


async def test_figures_after_a_stream_with_redelivery_and_a_restart(
    metrics: MetricsHarness,
) -> None:
    s = scenario()
    await metrics.start()
    await metrics.publish(s.first)
    await metrics.publish(s.first[:3])  # delivered again: the same events, the same ids
    await metrics.publish_raw(metrics.topics.received, b"not an envelope", key="broken")
    await metrics.wait_for(EXPECTED_FIRST)
    before = await metrics.wait_until(
        _caught_up(metrics.group)
    )  # every event handled and committed

    await metrics.stop()
    await metrics.start()
    after_restart = await metrics.samples()
    assert read_model_figures(after_restart) == read_model_figures(before)

    await metrics.publish(s.second)
    await metrics.publish(s.first)  # a replay of everything from before the restart
    await metrics.wait_for(EXPECTED_FINAL)
    final = await metrics.wait_until(_caught_up(metrics.group))
    for sample, value in EXPECTED_FINAL.items():
        assert final.get(sample) == value, sample

    received_topic = metrics.topics.received.name
    assert (
        final[key("signaalpunt_dead_letters_total", topic=received_topic, group=metrics.group)] == 1
    )
    # the cluster's health from its metadata: the local broker, every partition in sync
    assert final[key("signaalpunt_kafka_brokers")] == 1
    assert (
        final[
            key("signaalpunt_kafka_under_replicated_partitions", topic=metrics.topics.received.name)
        ]
        == 0
    )
    # triage never ran on the private topic: its lag is every message on it
    # (3 + 1 again + 1 broken before the restart, then 2 and the 3 replayed)
    assert _lag(final, "triage") == 10
    oldest = final[key("signaalpunt_acute_alert_oldest_wait_seconds")]
    assert oldest > 3600  # the Terneuzen alert has waited two days: the alert rule fires on this
    # Terneuzen's 3 signals and Middelburg's 2 (and every figure derived from them) are small
    # counts: nothing on /metrics may tell them per municipality
    assert _small_counts_per_municipality(final) == []
    LIVE["figures"] = read_model_figures(final)

    # no id of a signal, person, message or partner in any label
    text = await metrics.scrape()
    for item in s.first + s.second:
        for identifier in (item.key, str(item.event.event_id), str(item.event.correlation_id)):
            assert identifier not in text
        data = item.event.data.model_dump(mode="json")
        for field in ("signal_id", "subject_id", "notification_id", "partner_event_id"):
            if field in data:
                assert str(data[field]) not in text


MISSION_COUNTS = (
    "signaalpunt_signals_in_period",
    "signaalpunt_signals_in_period_all_channels",
    "signaalpunt_signals_in_period_by_partner_type",
)
"""The only counts published per municipality: complete periods, suppressed (mission.py)."""
NO_COUNT = (
    "signaalpunt_area_inhabitants",  # configuration
    "signaalpunt_signals_in_period_suppressed",  # markers of hidden counts
    "signaalpunt_signals_in_period_all_channels_suppressed",
    "signaalpunt_signals_in_period_by_partner_type_suppressed",
    "signaalpunt_signals_in_period_per_1000_inhabitants",  # from published counts only
    "signaalpunt_signals_period_change_ratio",
)


def _small_counts_per_municipality(samples: dict[Sample, float]) -> list[Sample]:
    """Every series that names a municipality and is neither a published mission count of 0 or
    at least SMALL_COUNT nor one of the figures that carry no count."""
    found = []
    for sample, value in samples.items():
        name, labels = sample
        if not any(v in INHABITANTS for _, v in labels):
            continue
        if name in NO_COUNT:
            continue
        if name in MISSION_COUNTS and (value == 0 or value >= SMALL_COUNT):
            continue
        found.append(sample)
    return sorted(found, key=str)


async def _cli(*args: str, database_url: str, bootstrap: str, group: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "SIGNAALPUNT_METRICS_DATABASE_URL": database_url,
        "SIGNAALPUNT_METRICS_KAFKA_BOOTSTRAP": bootstrap,
        "SIGNAALPUNT_METRICS_SERVICE_NAME": group,
        "SIGNAALPUNT_METRICS_DATABASE_SCHEMA": "metrics",
        "COLUMNS": "160",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "signaalpunt_metrics.cli",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_rebuild_from_the_topics_gives_the_same_figures(metrics: MetricsHarness) -> None:
    live = LIVE["figures"]
    prefix = metrics.topics.received.name.removesuffix(".signals.received.v1")
    args = ("rebuild", "--topic-prefix", prefix)
    connection = {
        "database_url": metrics.database_url,
        "bootstrap": metrics.bootstrap,
        "group": metrics.group,
    }

    code, out = await _cli(*args, **connection)
    assert code == 2, out
    assert "stop the metrics service first" in out

    await metrics.stop()
    code, out = await _cli(*args, **connection)
    assert code == 0, out
    assert "Rebuilt read models" in out

    await metrics.start()
    rebuilt = read_model_figures(await metrics.samples())
    assert rebuilt == live
    # the restarted service reads what the rebuild already had: duplicates, no second count
    caught_up = await metrics.wait_until(_caught_up(metrics.group))
    assert read_model_figures(caught_up) == live


async def test_promtool_accepts_the_metrics_output(metrics: MetricsHarness) -> None:
    promtool = tool("promtool")
    text = await metrics.scrape()
    code, out = await run(promtool, "check", "metrics", stdin=text)
    assert code == 0, out


async def test_the_demo_report_prints_the_headline_figures(metrics: MetricsHarness) -> None:
    path = Path(__file__).resolve().parents[3] / "scripts" / "demo_parts" / "metrics.py"
    spec = importlib.util.spec_from_file_location("demo_metrics_part", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    console = Console(record=True, width=160)
    summary = await module.report(console, base_url=metrics.base_url)
    assert summary["received"]["web_form"] == 2
    assert summary["routes"]["acuut"] == 2
    assert summary["open_by_state"] == {"in_intake": 1, "received": 1, "triaged": 2}
    assert summary["notifications_by_status"] == {"failed": 1, "queued": 1, "sent": 2}
    assert summary["consumer_lag"][metrics.group] == 0
    text = console.export_text()
    assert "GM0715" not in text  # no running figure per municipality
    assert "What became of them" in text
