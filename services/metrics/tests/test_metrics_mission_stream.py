"""The mission's period counts on the running service (real Kafka and PostgreSQL): `/metrics`
publishes no count below the threshold for a municipality and a period, a marker instead, and
the consortium's total is the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from metrics_harness import MetricsHarness, harness_on_private_topics
from metrics_scenario import MIDDELBURG, TERNEUZEN, key, received
from metrics_tools import run, tool
from signaalpunt_metrics.domain import SMALL_COUNT
from signaalpunt_testkit.plugin import Infra, TopicFactory

SLUIS, VLISSINGEN = "GM1714", "GM0718"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
COUNTS = (
    "signaalpunt_signals_in_period",
    "signaalpunt_signals_in_period_all_channels",
    "signaalpunt_signals_in_period_by_partner_type",
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    async with harness_on_private_topics(
        kafka_topics.private,
        infra.kafka_bootstrap,
        database_url,
        start=True,
    ) as harness:
        yield harness


async def test_a_municipality_with_three_signals_in_a_day_publishes_no_count_for_it(
    metrics: MetricsHarness,
) -> None:
    yesterday = datetime.now(AMSTERDAM).date() - timedelta(days=1)
    noon = datetime.combine(yesterday, time(12), tzinfo=AMSTERDAM)
    per_place = {SLUIS: 3, MIDDELBURG: 6, TERNEUZEN: 7}
    steps = []
    n = 700
    for place, count in per_place.items():
        for _ in range(count):
            n += 1
            steps.append(received(n, place, "web_form", at=noon))
    await metrics.publish(steps)

    day = {"period": "day", "start": yesterday.isoformat()}
    samples = await metrics.wait_for(
        {key("signaalpunt_signals_in_period_all_channels", area="consortium", **day): 16}
    )
    # Sluis's 3: no count, a marker (for its total, its channel and its partner type)
    for name, extra in (
        ("signaalpunt_signals_in_period_all_channels", {}),
        ("signaalpunt_signals_in_period", {"channel": "web_form"}),
        ("signaalpunt_signals_in_period_by_partner_type", {"partner_type": "none"}),
    ):
        assert key(name, area=SLUIS, **day, **extra) not in samples
        assert samples[key(f"{name}_suppressed", area=SLUIS, **day, **extra)] == 1
    # Middelburg's 6 is hidden too, else the consortium's 16 minus the others would show 3
    assert key("signaalpunt_signals_in_period_all_channels", area=MIDDELBURG, **day) not in samples
    assert (
        samples[
            key("signaalpunt_signals_in_period_all_channels_suppressed", area=MIDDELBURG, **day)
        ]
        == 1
    )
    assert samples[key("signaalpunt_signals_in_period_all_channels", area=TERNEUZEN, **day)] == 7
    assert (
        samples[key("signaalpunt_signals_in_period_per_1000_inhabitants", area=TERNEUZEN, **day)]
        == 1000 * 7 / 54900
    )
    assert key("signaalpunt_signals_in_period_per_1000_inhabitants", area=SLUIS, **day) not in (
        samples
    )
    assert samples[key("signaalpunt_mission_period_ago", **day)] == 1
    assert samples[key("signaalpunt_area_inhabitants", area="consortium")] == sum(
        v
        for (name, labels), v in samples.items()
        if name == "signaalpunt_area_inhabitants" and ("area", "consortium") not in labels
    )
    # anywhere on /metrics: no mission count from 1 to SMALL_COUNT - 1
    small = [
        (name, dict(labels), v)
        for (name, labels), v in samples.items()
        if name in COUNTS and 0 < v < SMALL_COUNT
    ]
    assert not small, small
    code, out = await run(tool("promtool"), "check", "metrics", stdin=await metrics.scrape())
    assert code == 0, out


async def test_days_are_the_municipalities_calendar_days_not_utc_days(
    metrics: MetricsHarness,
) -> None:
    """Five Vlissingen signals just after local midnight (the evening before in UTC) count on
    the local day."""
    day = datetime.now(AMSTERDAM).date() - timedelta(days=2)
    after_midnight = datetime.combine(day, time(0, 30), tzinfo=AMSTERDAM)
    assert after_midnight.astimezone(UTC).date() < day  # UTC still has the day before
    await metrics.publish(
        [received(900 + n, VLISSINGEN, "phone", at=after_midnight) for n in range(5)]
    )
    local = {"period": "day", "area": VLISSINGEN}
    samples = await metrics.wait_for(
        {key("signaalpunt_signals_in_period_all_channels", start=day.isoformat(), **local): 5}
    )
    before = (day - timedelta(days=1)).isoformat()
    assert samples[key("signaalpunt_signals_in_period_all_channels", start=before, **local)] == 0
