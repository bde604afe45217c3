"""The metrics service's pure rules: SMART-goal progress, labels, configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from signaalpunt_contracts import SignalReceivedV1
from signaalpunt_metrics.collector import next_refresh_in
from signaalpunt_metrics.config import MetricsSettings, load_goals, load_inhabitants
from signaalpunt_metrics.domain import Goal, Period, goal_progress, partner_type

REPO = Path(__file__).resolve().parents[3]


def _goal(target: float = 0.2) -> Goal:
    return Goal(
        name="partners-rate",
        description="",
        baseline=Period(date(2025, 1, 1), date(2026, 1, 1)),  # 365 days
        period=Period(date(2026, 1, 1), date(2028, 1, 1)),
        target_change=target,
    )


def test_progress_compares_rates_per_day_so_a_half_period_is_fair() -> None:
    # baseline: 365 signals in 365 days = 1 a day; 73 days into the period: 87.6 signals = 1.2 a day
    now = datetime(2026, 3, 15, tzinfo=UTC)  # 73 days after 1 January
    p = goal_progress(_goal(), baseline_count=365, period_count=88, now=now)
    assert p.baseline_per_day == 1.0
    assert p.per_day == pytest.approx(88 / 73)
    assert p.change == pytest.approx(88 / 73 - 1)
    assert p.progress == pytest.approx((88 / 73 - 1) / 0.2)
    assert p.elapsed_ratio == pytest.approx(73 / 730)


def test_before_the_period_starts_there_is_nothing_to_report() -> None:
    p = goal_progress(
        _goal(), baseline_count=10, period_count=0, now=datetime(2025, 6, 1, tzinfo=UTC)
    )
    assert p.per_day is None
    assert p.change is None
    assert p.progress is None
    assert p.elapsed_ratio == 0


def test_after_the_period_the_rate_is_over_the_whole_period() -> None:
    p = goal_progress(
        _goal(), baseline_count=365, period_count=730 * 2, now=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert p.per_day == 2.0
    assert p.progress == pytest.approx(5.0)  # +100 % against a target of +20 %
    assert p.elapsed_ratio == 1


def test_a_goal_without_a_baseline_rate_has_no_change() -> None:
    p = goal_progress(
        _goal(), baseline_count=0, period_count=5, now=datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert p.change is None


def test_partner_type_label_is_tame() -> None:
    example = SignalReceivedV1.model_validate(SignalReceivedV1.examples[0])
    assert partner_type(example) == "supermarkt"
    odd = example.model_copy(
        update={"reporter": example.reporter.model_copy(update={"partner_type": " Huis Arts!"})}
    )
    assert partner_type(odd) == "huis_arts"
    anonymous = SignalReceivedV1.model_validate(SignalReceivedV1.examples[1])
    assert partner_type(anonymous) == "none"


def test_inhabitants_cover_exactly_the_consortiums_municipalities() -> None:
    intake = yaml.safe_load(
        (REPO / "services/intake/src/signaalpunt_intake/municipalities.yaml").read_text()
    )
    codes = {m["code"] for m in intake["municipalities"]}
    inhabitants = load_inhabitants(MetricsSettings.model_fields["inhabitants_file"].default)
    assert set(inhabitants) == codes
    assert all(m.inhabitants > 1000 for m in inhabitants.values())


def test_configured_goals_load() -> None:
    goals = load_goals(MetricsSettings.model_fields["goals_file"].default)
    assert {g.name for g in goals} >= {"partners-reporting-rate"}
    assert all(g.period.start >= g.baseline.until for g in goals)


def test_the_composition_root_builds_without_a_running_event_loop() -> None:
    """`python -m signaalpunt_metrics.main` builds the service before uvicorn starts a loop."""
    from signaalpunt_metrics.main import build

    service, app = build(MetricsSettings())
    assert callable(app)
    assert (
        len(service.stages) == 13
    )  # one per consumed topic (possible-acute two, erasures, referrals, gaps and matches)
    assert {stage.group for stage in service.stages} == {"metrics"}


@pytest.mark.parametrize(
    ("took", "wait"),
    [
        (0.5, 14.5),  # a quick refresh: the next one the interval after this one began
        (1.5, 13.5),  # a tenth of the time: still the interval
        (2.4, 21.6),  # slower: it began 24 s after this one, refreshing a tenth of the time
        (20.0, 180.0),  # longer than the interval: never back to back
    ],
)
def test_a_slow_refresh_spaces_the_next_one_out(took: float, wait: float) -> None:
    assert next_refresh_in(15.0, took, 0.1) == pytest.approx(wait)
    assert next_refresh_in(15.0, took, 1.0) == pytest.approx(max(0.0, 15.0 - took))
