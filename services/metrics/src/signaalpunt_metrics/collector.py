"""Prometheus metrics computed from the read models (and Kafka's offsets) in the background.

The figures are aggregates over the tables in PostgreSQL, not counters kept in memory: they are
right after a restart, on every replica, and a redelivered event cannot count twice. They are
refreshed every `refresh_interval` seconds apart from the scrapes: a scrape reads the last
figures, so several Prometheus servers, a refresh storm or a slow query never make a scrape slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as day_time
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from signaalpunt_contracts import (
    VOLUNTEER_NEEDS,
    Channel,
    DecidedBy,
    MatchStatus,
    Priority,
    ReferralStatus,
    RiskGroup,
    Route,
)
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .domain import NO_PARTNER, SMALL_COUNT, Goal, Municipality, goal_progress
from .kafka_offsets import KafkaOffsets, OffsetReport
from .mission import (
    CONSORTIUM,
    WINDOW,
    Breakdown,
    MissionFigures,
    PeriodKind,
    Received,
    complete_periods,
    mission_figures,
)

log = get_logger(__name__)

Key = tuple[str, ...]
OPEN_STATES = ("received", "triaged", "in_intake", "referred")
REFERRAL_STATUSES = [s.value for s in ReferralStatus]
MATCH_STATUSES = [s.value for s in MatchStatus if s is not MatchStatus.UNMATCHED]


class _Family:
    """Values per label set, with zero series for the label sets we know of in advance: a
    series that appears only at its first event would hide that event from `increase()`.

    The rows come per municipality; a family without the `municipality` label adds them up
    (the consortium's figure). No running figure is published per municipality: its steps
    between two scrapes would tell each signal of a small municipality (docs/metrics.md)."""

    def __init__(self, labels: Sequence[str], zeros: Iterable[Key] = ()) -> None:
        self.labels = list(labels)
        self.values: dict[Key, float] = dict.fromkeys(zeros, 0.0)

    def add_rows(self, rows: Iterable[asyncpg.Record], value: str = "n") -> _Family:
        for row in rows:
            key = tuple(repo.label_values(row, self.labels))
            self.values[key] = self.values.get(key, 0.0) + repo.as_float(row[value])
        return self

    def counter(self, name: str, documentation: str) -> CounterMetricFamily:
        family = CounterMetricFamily(name, documentation, labels=self.labels)
        for key, value in sorted(self.values.items()):
            family.add_metric(list(key), value)
        return family

    def gauge(self, name: str, documentation: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=self.labels)
        for key, value in sorted(self.values.items()):
            family.add_metric(list(key), value)
        return family


def next_refresh_in(interval: float, took: float, share: float) -> float:
    """Seconds to wait after a refresh that took `took`: the next one begins `interval` after
    this one began, or later when this one was slow, so that refreshing takes at most `share`
    of the time (a refresh over every row grows with the history and, under load, competes
    with the pipeline for PostgreSQL's CPU)."""
    return max(0.0, interval - took, took / share - took)


def _product(*values: Iterable[str]) -> list[Key]:
    return list(itertools.product(*values))


class ReadModelCollector(Collector):
    def __init__(
        self,
        *,
        pool: Callable[[], asyncpg.Pool],
        offsets: KafkaOffsets | None,
        municipalities: dict[str, Municipality],
        goals: Sequence[Goal],
        refresh_interval: float,
        refresh_share: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        time_zone: ZoneInfo | None = None,
    ) -> None:
        self._time_zone = time_zone or ZoneInfo("Europe/Amsterdam")
        self._pool = pool
        self._offsets = offsets
        self._municipalities = municipalities
        self._goals = tuple(goals)
        self._refresh_interval = max(refresh_interval, 0.05)
        self._refresh_share = refresh_share
        self._refresh_seconds = 0.0
        self._keeping: asyncio.Task[None] | None = None
        self._clock = clock
        self._read_models: list[Metric] = []
        self._kafka: list[Metric] = []
        self._errors = 0
        self._mission: tuple[tuple[date, list[Received]], MissionFigures] | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._read_models
        yield from self._kafka
        errors = CounterMetricFamily(
            "signaalpunt_metrics_refresh_errors",
            "Refreshes of the metrics that failed (the last figures were served instead)",
        )
        errors.add_metric([], self._errors)
        yield errors
        took = GaugeMetricFamily(
            "signaalpunt_metrics_refresh_seconds",
            "How long the last refresh of the figures took (a long one spaces the next out)",
        )
        took.add_metric([], self._refresh_seconds)
        yield took

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the families vary with the data; no name checks at registration

    async def start(self) -> None:
        """The first figures before the service answers its first scrape, then a refresh every
        `refresh_interval` seconds in the background: a scrape only reads the last figures, so
        it never waits for SQL or Kafka (Prometheus's scrape timeout is no budget for them)."""
        await self.refresh()
        self._keeping = asyncio.create_task(self._keep_fresh(), name="metrics-refresh")

    async def stop(self) -> None:
        if self._keeping is not None:
            self._keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeping
            self._keeping = None

    async def _keep_fresh(self) -> None:
        while True:
            started = time.monotonic()
            await self.refresh()
            took = time.monotonic() - started
            await asyncio.sleep(next_refresh_in(self._refresh_interval, took, self._refresh_share))

    async def refresh(self) -> None:
        started = time.monotonic()
        try:
            await self._refresh()
        finally:
            self._refresh_seconds = time.monotonic() - started

    async def _refresh(self) -> None:
        try:
            async with self._pool().acquire() as conn:
                self._read_models = await self._from_read_models(conn, self._clock())
        except Exception as exc:
            self._errors += 1
            log.warning("metrics refresh from the read models failed", error=type(exc).__name__)
        if self._offsets is not None:
            try:
                self._kafka = self._from_offsets(await self._offsets.read())
            except Exception as exc:
                self._errors += 1
                log.warning("reading Kafka offsets failed", error=type(exc).__name__)

    async def _from_read_models(self, conn: DbConnection, now: datetime) -> list[Metric]:
        routes = [r.value for r in Route]
        priorities = [p.value for p in Priority]
        out: list[Metric] = [
            _Family(
                ["channel", "partner_type"],
                _product([c.value for c in Channel], [NO_PARTNER]),
            )
            .add_rows(await repo.received(conn))
            .counter(
                "signaalpunt_signals_received",
                "Signals received by the consortium, by channel and partner type (per "
                "municipality: signaalpunt_signals_in_period*)",
            ),
            _Family(["route", "priority"], _product(routes, priorities))
            .add_rows(await repo.first_decisions(conn))
            .counter("signaalpunt_signals_triaged", "Signals by the rules' triage decision"),
            _Family(["risk_group"], _product([g.value for g in RiskGroup]))
            .add_rows(await repo.first_risk_groups(conn))
            .counter(
                "signaalpunt_signals_risk_group",
                "Signals per risk group of the rules' decision (a signal can be in several)",
            ),
            _Family(["route"])
            .add_rows(await repo.current_routes(conn))
            .gauge(
                "signaalpunt_signals_current_route",
                "Signals by their latest route, after coordinators' changes",
            ),
            _Family(["decided_by"], _product([d.value for d in DecidedBy]))
            .add_rows(await repo.decisions(conn))
            .counter(
                "signaalpunt_triage_decisions",
                "Triage decisions by who decided: the rules, or a coordinator changing them",
            ),
            _Family(["route"], _product(routes))
            .add_rows(await repo.overrides(conn))
            .counter(
                "signaalpunt_triage_overrides",
                "Coordinators' changes of a triage decision, by the new route",
            ),
            _Family(["state"], _product(OPEN_STATES))
            .add_rows(await repo.open_by_state(conn))
            .gauge("signaalpunt_signals_open", "Signals not closed, by case state"),
            _Family(["route", "priority"])
            .add_rows(await repo.overdue(conn, now))
            .gauge(
                "signaalpunt_signals_overdue",
                "Open signals past their first-contact deadline without first contact",
            ),
            _Family(["route", "priority"], _product(routes, priorities))
            .add_rows(await repo.deadlines_missed(conn))
            .counter(
                "signaalpunt_deadlines_missed",
                "First-contact deadlines that passed without contact",
            ),
            _Family(["template", "channel", "status"])
            .add_rows(await repo.notifications(conn))
            .counter(
                "signaalpunt_notifications",
                "Messages by the status they reached (a queued message that was sent counts "
                "under both)",
            ),
            _Family(["reason"])
            .add_rows(await repo.rejections(conn))
            .counter("signaalpunt_partner_rejections", "Partner signals refused, by reason"),
            _Family(["status"], _product(REFERRAL_STATUSES))
            .add_rows(await repo.referrals(conn))
            .counter(
                "signaalpunt_referrals",
                "Referrals by each status they reached (proposed, sent, accepted, … completed)",
            ),
            _Family([], [()])
            .add_rows(await repo.referral_escalations(conn))
            .counter(
                "signaalpunt_referral_escalations",
                "Referrals an organisation did not answer in time (the coordinator was told)",
            ),
            _Family(["status"], _product(MATCH_STATUSES))
            .add_rows(await repo.volunteer_matches(conn))
            .counter(
                "signaalpunt_volunteer_matches",
                "Volunteer matches (one per volunteer asked) by each status they reached",
            ),
            _Family(["constraint"])
            .add_rows(await repo.unmatched_requests(conn))
            .counter(
                "signaalpunt_unmatched_requests",
                "Match requests that found no volunteer, by the constraint that ruled out most",
            ),
            _Family(["need", "reason"])
            .add_rows(await repo.offer_gaps(conn))
            .counter(
                "signaalpunt_offer_gaps",
                "Help questions with a need no eligible offer met (no_eligible_offer) or only "
                "full ones did (all_full), by need",
            ),
        ]
        out += self._acute(await repo.acute_alerts(conn, now))
        possible = await repo.possible_acute(conn)
        out += [
            _Family([], [()])
            .add_rows(possible, "alerts")
            .counter(
                "signaalpunt_possible_acute_alerts",
                "Possible-acute signals put before a coordinator for review within hours",
            ),
            _Family([], [()])
            .add_rows(possible, "missed")
            .counter(
                "signaalpunt_possible_acute_reviews_missed",
                "Possible-acute signals not reviewed by a coordinator in time",
            ),
        ]
        known = {
            "channel": [c.value for c in Channel],
            "route": routes,
            "need": sorted(n.value for n in VOLUNTEER_NEEDS),
        }
        out += [await self._histogram(conn, d, known) for d in repo.DURATIONS]
        out += _mission(await self._mission_figures(conn, now))
        out += await self._goals_progress(conn, now)
        return out

    def _acute(self, rows: list[asyncpg.Record]) -> list[Metric]:
        """The consortium's acute figures. The oldest wait is the longest of any municipality:
        the alert fires on it, and the coordinators see in the triage desk which one it is."""
        total = _Family([], [()]).add_rows(rows, "total")
        picked_up = _Family([], [()]).add_rows(rows, "picked_up")
        waiting = _Family([], [()]).add_rows(rows, "waiting")
        oldest = GaugeMetricFamily(
            "signaalpunt_acute_alert_oldest_wait_seconds",
            "How long the oldest acute alert without first contact has waited (0: none)",
        )
        oldest.add_metric([], max((repo.as_float(r["oldest_wait"]) for r in rows), default=0.0))
        return [
            total.counter("signaalpunt_acute_alerts", "Acute-risk alerts raised"),
            picked_up.counter(
                "signaalpunt_acute_alerts_picked_up_within_hour",
                "Acute alerts followed by first contact within an hour",
            ),
            waiting.gauge(
                "signaalpunt_acute_alerts_waiting",
                "Acute alerts without first contact yet (case not closed)",
            ),
            oldest,
        ]

    async def _histogram(
        self, conn: DbConnection, d: repo.Duration, known: dict[str, list[str]]
    ) -> Metric:
        """Bucket counts from SQL; label sets with no facts yet get zero buckets, so the first
        duration observed is not lost to `increase()`."""
        empty = ([(_bound(le), 0.0) for le in d.buckets] + [("+Inf", 0.0)], 0.0)
        series: dict[Key, tuple[list[tuple[str, float]], float]] = {}
        if all(label in known for label in d.labels):
            series = dict.fromkeys(_product(*(known[label] for label in d.labels)), empty)
        rows = await repo.histogram(conn, d)
        for key, group in itertools.groupby(rows, lambda r: tuple(repo.label_values(r, d.labels))):
            bucket_rows = list(group)
            buckets: list[tuple[str, float]] = [
                (_bound(r["le"]), float(r["cumulative"])) for r in bucket_rows
            ]
            buckets.append(("+Inf", float(bucket_rows[0]["count"])))
            series[key] = (buckets, float(bucket_rows[0]["sum"]))
        family = HistogramMetricFamily(d.name, d.documentation, labels=list(d.labels))
        for key, (buckets, total) in sorted(series.items()):
            family.add_metric(list(key), buckets, total)
        return family

    async def _mission_figures(self, conn: DbConnection, now: datetime) -> MissionFigures:
        today = now.astimezone(self._time_zone).date()
        rows = []
        for kind in PeriodKind:
            starts = complete_periods(kind, today, WINDOW[kind])
            since = datetime.combine(starts[0], day_time.min, tzinfo=self._time_zone)
            until = datetime.combine(today, day_time.min, tzinfo=self._time_zone)
            rows += [
                Received(
                    kind=kind,
                    start=r["start"],
                    municipality=r["municipality"],
                    channel=r["channel"],
                    partner_type=r["partner_type"],
                    count=int(r["n"]),
                )
                for r in await repo.received_per_period(
                    conn, kind.value, str(self._time_zone), since, until
                )
            ]
        # complete periods rarely change (a late event, an erasure): the suppression is redone
        # only when the counts or the day do (it takes about 0.5 s over a year of busy days)
        if self._mission is None or self._mission[0] != (today, rows):
            figures = mission_figures(
                rows,
                municipalities=self._municipalities,
                channels=[c.value for c in Channel],
                today=today,
            )
            self._mission = ((today, rows), figures)
        return self._mission[1]

    async def _goals_progress(self, conn: DbConnection, now: datetime) -> list[Metric]:
        names = {
            "baseline": (
                "signaalpunt_goal_baseline_signals_per_day",
                "Signals per day in the goal's baseline period",
            ),
            "current": (
                "signaalpunt_goal_signals_per_day",
                "Signals per day so far in the goal's measurement period",
            ),
            "target": (
                "signaalpunt_goal_target_change_ratio",
                "The goal's target change of the rate (0.2 = +20 %)",
            ),
            "change": (
                "signaalpunt_goal_change_ratio",
                "Observed change of the rate against the baseline",
            ),
            "progress": (
                "signaalpunt_goal_progress_ratio",
                "Observed change as a share of the target (1 = reached)",
            ),
            "elapsed": (
                "signaalpunt_goal_period_elapsed_ratio",
                "Share of the measurement period that has passed",
            ),
        }
        families = {k: GaugeMetricFamily(n, doc, labels=["goal"]) for k, (n, doc) in names.items()}
        for goal in self._goals:
            baseline, current = await repo.goal_counts(conn, goal)
            p = goal_progress(goal, baseline_count=baseline, period_count=current, now=now)
            values = {
                "baseline": p.baseline_per_day,
                "current": p.per_day,
                "target": goal.target_change,
                "change": p.change,
                "progress": p.progress,
                "elapsed": p.elapsed_ratio,
            }
            for key, value in values.items():
                if value is not None:  # nothing measured yet: no series rather than a fake 0
                    families[key].add_metric([goal.name], value)
        return list(families.values())

    @staticmethod
    def _from_offsets(report: OffsetReport) -> list[Metric]:
        lag = GaugeMetricFamily(
            "signaalpunt_consumer_lag",
            "Events on a partition that a consumer group has not yet committed",
            labels=["group", "topic", "partition"],
        )
        for item in report.lag:
            lag.add_metric([item.group, item.topic, str(item.partition)], item.lag)
        dead = CounterMetricFamily(
            "signaalpunt_dead_letters",
            "Events a consumer group parked in its dead-letter topic (<topic>.dlq.<group>)",
            labels=["topic", "group"],
        )
        for d in report.dead_letters:
            dead.add_metric([d.topic, d.group], d.total)
        # Kafka's own health as its metadata tells it, also where no Kafka exporter runs
        brokers = GaugeMetricFamily(
            "signaalpunt_kafka_brokers", "Brokers in the Kafka cluster's metadata"
        )
        brokers.add_metric([], report.brokers)
        behind = GaugeMetricFamily(
            "signaalpunt_kafka_under_replicated_partitions",
            "Partitions of a topic with fewer in-sync replicas than replicas",
            labels=["topic"],
        )
        for topic, count in report.under_replicated.items():
            behind.add_metric([topic], count)
        return [lag, dead, brokers, behind]


def _mission(figures: MissionFigures) -> list[Metric]:
    """The mission's period counts (docs/metrics.md): published counts, a marker (1) for each
    hidden one, rates per 1,000 inhabitants, the change against the period before."""
    kinds = ["period", "start", "area"]
    families = {
        Breakdown.CHANNEL: (
            "signaalpunt_signals_in_period",
            "Signals received in a complete period, per area and channel (hidden below "
            f"{SMALL_COUNT})",
            [*kinds, "channel"],
        ),
        Breakdown.PARTNER_TYPE: (
            "signaalpunt_signals_in_period_by_partner_type",
            "Signals received in a complete period, per area and partner type (none: no "
            f"partner; hidden below {SMALL_COUNT})",
            [*kinds, "partner_type"],
        ),
        Breakdown.ALL: (
            "signaalpunt_signals_in_period_all_channels",
            f"Signals received in a complete period, per area (hidden below {SMALL_COUNT})",
            kinds,
        ),
    }
    shown = {
        b: GaugeMetricFamily(name, doc, labels=labels)
        for b, (name, doc, labels) in families.items()
    }
    hidden = {
        b: GaugeMetricFamily(
            f"{name}_suppressed",
            "1: this count is not published (small-count suppression, docs/metrics.md)",
            labels=labels,
        )
        for b, (name, _, labels) in families.items()
    }

    def labels(cell: tuple[PeriodKind, date, str, Breakdown, str]) -> list[str]:
        kind, start, area, breakdown, name = cell
        base = [kind.value, start.isoformat(), area]
        return base if breakdown is Breakdown.ALL else [*base, name]

    for cell, n in sorted(figures.counts.items()):
        shown[cell[3]].add_metric(labels(cell), n)
    for cell in sorted(figures.hidden):
        hidden[cell[3]].add_metric(labels(cell), 1)
    per_1000 = GaugeMetricFamily(
        "signaalpunt_signals_in_period_per_1000_inhabitants",
        "Signals received in a complete period per 1,000 inhabitants (absent when the count "
        "is not published)",
        labels=kinds,
    )
    for (kind, start, area), value in sorted(figures.per_1000.items()):
        per_1000.add_metric([kind.value, start.isoformat(), area], value)
    change = GaugeMetricFamily(
        "signaalpunt_signals_period_change_ratio",
        "Signals in the last complete period against the one before (0.1 = +10 %; absent "
        "when either count is not published or the one before is 0)",
        labels=["period", "area"],
    )
    for (kind, area), value in sorted(figures.change.items()):
        change.add_metric([kind.value, area], value)
    ago = GaugeMetricFamily(
        "signaalpunt_mission_period_ago",
        "How many periods back each published period is (1: the last complete one)",
        labels=["period", "start"],
    )
    for (kind, start), back in sorted(figures.ago.items()):
        ago.add_metric([kind.value, start.isoformat()], back)
    inhabitants = GaugeMetricFamily(
        "signaalpunt_area_inhabitants",
        f"Inhabitants per municipality and of the consortium ({CONSORTIUM}), configuration",
        labels=["area"],
    )
    for area, value in sorted(figures.inhabitants.items()):
        inhabitants.add_metric([area], value)
    return [*shown.values(), *hidden.values(), per_1000, change, ago, inhabitants]


def _bound(le: float) -> str:
    # the way prometheus_client's own histograms write `le` (3600.0, +Inf)
    return str(floatToGoString(le))  # type: ignore[no-untyped-call]
