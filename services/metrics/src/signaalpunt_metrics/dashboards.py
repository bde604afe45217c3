"""Grafana dashboards as code (grafana-foundation-sdk), written to deploy/grafana/dashboards/.

    uv run python -m signaalpunt_metrics.dashboards          # regenerate the committed JSON
    uv run python -m signaalpunt_metrics.dashboards --check  # fail when the JSON is stale

Rules every expression follows:
- read-model figures are the same on every replica of the metrics service, so an expression first
  takes `max by (<all the metric's labels>)` (drops `instance` without adding replicas up);
- nothing running is shown per municipality: the metrics service publishes its running figures
  (counters, gauges, histograms) for the consortium only, and per municipality only the mission's
  complete periods with small counts hidden (mission.py; docs/metrics.md). The overview and
  follow-up dashboards show the consortium, the mission dashboard each municipality;
- the consortium's counts (and figures derived from one, such as a share or a quantile) are shown
  only from SMALL_COUNT on (`>= 5`). Alarm figures (acute alerts waiting, overdue signals) are
  not: hiding a single waiting case would be dangerous.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import (
    CustomVariable,
    Dashboard,
    DashboardLink,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    FieldTextAlignment,
    GraphGradientMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from .domain import SMALL_COUNT
from .mission import CONSORTIUM

DATASOURCE = DataSourceRef(type_val="prometheus", uid="signaalpunt-prometheus")
"""Fixed in deploy/grafana/provisioning/datasources/prometheus.yaml."""
OUT = Path(__file__).resolve().parents[4] / "deploy" / "grafana" / "dashboards"
RUNBOOKS = "https://signaalpunt.nl/docs/runbooks/"
"""The same base as the alerts' runbook_url (deploy/prometheus/rules): docs/runbooks/<alert>.md."""

# -- PromQL helpers -------------------------------------------------------------------------


def received(window: str, by: str, where: str = "") -> str:
    return (
        f"sum by ({by}) (max by (channel, partner_type) "
        f"(increase(signaalpunt_signals_received_total{where}[{window}])))"
    )


def shown(count: str) -> str:
    """A count, suppressed below SMALL_COUNT."""
    return f"({count}) >= {SMALL_COUNT}"


def per_1000(window: str) -> str:
    """The consortium's signals per 1,000 inhabitants (per municipality: the mission's)."""
    count = received(window, "")
    return (
        f'1000 * {count} / on () max (signaalpunt_area_inhabitants{{area="{CONSORTIUM}"}}) '
        f"and on () ({shown(count)})"
    )


def counted(metric: str, labels: str, by: str, window: str = "$__range") -> str:
    grouped = f"max by ({labels})" if labels else "max"
    return (
        f"sum by ({by}) ({grouped} (increase({metric}[{window}])))"
        if by
        else f"sum ({grouped} (increase({metric}[{window}])))"
    )


def quantile(q: float, histogram: str, labels: str) -> str:
    buckets = counted(f"{histogram}_bucket", f"{labels}, le", "le")
    total = counted(f"{histogram}_count", labels, "")
    return f"histogram_quantile({q}, {buckets}) and on () ({shown(total)})"


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q.range()


RUNBOOK_PANELS = {
    "Acute alerts waiting": ("SignaalpuntAcuteSignalNotPickedUp",),
    "Oldest acute alert waiting": ("SignaalpuntAcuteSignalNotPickedUp",),
    "Overdue signals": ("SignaalpuntMissedDeadlinesRising", "SignaalpuntDeadlineWatcherStopped"),
    "Missed first-contact deadlines (selected period)": ("SignaalpuntMissedDeadlinesRising",),
    "Services up": ("SignaalpuntServiceDown", "SignaalpuntServiceNotScraped"),
    "Events handled per second": ("SignaalpuntConsumerPaused",),
    "Duplicates and dead letters per second": ("SignaalpuntDeadLettersGrowing",),
    "Consumer lag": ("SignaalpuntConsumerLagHigh", "SignaalpuntConsumerPaused"),
    "Dead letters parked": ("SignaalpuntDeadLettersGrowing",),
    "HTTP requests per second": ("SignaalpuntIntakeErrors",),
    "HTTP latency (95th percentile)": ("SignaalpuntIntakeSlow",),
    "Errors per second": ("SignaalpuntOutboxRelayFailing",),
    "Events published from outboxes per second": (
        "SignaalpuntOutboxBacklogOld",
        "SignaalpuntNoOutboxRelay",
    ),
    "Notifications by outcome": ("SignaalpuntAcuteMessageNotDelivered",),
    "Metrics refresh errors": ("SignaalpuntMetricsStale",),
    "PostgreSQL up": ("SignaalpuntPostgresDown",),
    "Under-replicated partitions": ("SignaalpuntKafkaUnderReplicated",),
}
"""Panel title -> the alerts that fire on what it shows: the panel links to their runbooks."""


def _link_runbooks(panel: Any) -> None:
    alerts = RUNBOOK_PANELS.get(panel.title or "", ())
    if alerts:
        panel.links = [
            DashboardLink(f"Runbook: {alert}")
            .type(DashboardLinkType.LINK)
            .url(f"{RUNBOOKS}{alert}.md")
            .target_blank(True)
            .build()
            for alert in alerts
        ]


# -- panels ---------------------------------------------------------------------------------


def _series(title: str, description: str, *targets: Dataquery, unit: str = "short") -> Any:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(12)
        .height(8)
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def _stat(
    title: str, description: str, target: Dataquery, unit: str = "short", span: int = 6
) -> Any:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(4)
        .no_value("–")
        .with_target(target)
    )


def _bars(
    title: str, description: str, target: Dataquery, unit: str = "short", span: int = 12
) -> Any:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(span)
        .height(8)
        .no_value("–")
        .with_target(target)
    )


def _dashboard(uid: str, title: str, description: str, since: str = "now-30d") -> Dashboard:
    """`since`: the default time range, what the dashboard's reader looks back over."""
    d = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["signaalpunt", "generated"])
        .editable()
        .time(since, "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )
    return d


SUPPRESSED = (
    f"The consortium's figures; counts below {SMALL_COUNT} are not shown. Per municipality: the "
    "mission dashboard (complete periods, small counts hidden by the metrics service)."
)


def overview() -> Dashboard:
    d = _dashboard(
        "signaalpunt-overview",
        "Signaalpunt – Overview",
        "What comes in, through which channel and from which partners; per 1,000 inhabitants; "
        "SMART goals. " + SUPPRESSED,
    )
    d = d.with_row(Row("Volume"))
    d = d.with_panel(
        _stat(
            "Signals received",
            "Signals received in the selected period. " + SUPPRESSED,
            query(shown(received("$__range", "")), instant=True),
        )
    )
    d = d.with_panel(
        _stat(
            "Through partners",
            "Signals from partner organisations (portal and partner systems). " + SUPPRESSED,
            query(shown(received("$__range", "", '{partner_type!="none"}')), instant=True),
        )
    )
    d = d.with_panel(
        _stat(
            "Routed acute (rules)",
            "Signals the rules routed as acute. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        'signaalpunt_signals_triaged_total{route="acuut"}',
                        "route, priority",
                        "",
                    )
                ),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _stat(
            "Partner signals refused",
            "Partner events intake refused (invalid, unknown partner, outside the consortium).",
            query(
                counted("signaalpunt_partner_rejections_total", "reason", ""),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Signals per channel (rolling 24 h)",
            "Web form, phone desk, partner portal and partner systems. " + SUPPRESSED,
            query(shown(received("1d", "channel")), "{{channel}}"),
        )
    )
    d = d.with_panel(
        _series(
            "Signals per municipality in the last complete day",
            "From the mission's figures: a municipality's count shows only when the metrics "
            f"service published it (0 or at least {SMALL_COUNT}, and no hidden count to be "
            "worked out from it).",
            query(
                'max by (area) (signaalpunt_signals_in_period_all_channels{period="day"} '
                'and on (period, start) (signaalpunt_mission_period_ago{period="day"} == 1))',
                "{{area}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Signals per partner type (rolling 7 days)",
            "GP (huisarts), supermarket, Wmo desk, housing corporation, … " + SUPPRESSED,
            query(
                shown(received("7d", "partner_type", '{partner_type!="none"}')), "{{partner_type}}"
            ),
        )
    )
    d = d.with_panel(
        _bars(
            "Signals per 1,000 inhabitants (selected period)",
            "The consortium's; population from the metrics service's configuration "
            "(inhabitants.yaml). " + SUPPRESSED,
            query(per_1000("$__range"), "consortium", instant=True),
        )
    )
    d = d.with_row(Row("Routes and risk groups"))
    d = d.with_panel(
        _bars(
            "Route (the rules' decision)",
            "Where the rules sent signals in the selected period. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_signals_triaged_total",
                        "route, priority",
                        "route",
                    )
                ),
                "{{route}}",
                instant=True,
            ),
            span=8,
        )
    )
    d = d.with_panel(
        _bars(
            "Risk groups",
            "Risk groups of the rules' decision (a signal can be in several). " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_signals_risk_group_total",
                        "risk_group",
                        "risk_group",
                    )
                ),
                "{{risk_group}}",
                instant=True,
            ),
            span=8,
        )
    )
    d = d.with_panel(
        _bars(
            "Triage decisions: rules, coordinators and overrides",
            "Coordinators' changes of the rules' decision show how far the rules can be "
            "trusted. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_triage_decisions_total",
                        "decided_by",
                        "decided_by",
                    )
                ),
                "{{decided_by}}",
                instant=True,
            ),
            span=8,
        ).with_target(
            query(
                shown(counted("signaalpunt_triage_overrides_total", "route", "")),
                "overrides",
                "B",
                instant=True,
            )
        )
    )
    d = d.with_row(Row("SMART goals"))
    d = d.with_panel(
        _bars(
            "Progress towards each goal",
            "Observed change of the reporting rate as a share of the target (100 % = goal "
            "reached). Goals and baselines: the metrics service's goals.yaml.",
            query("max by (goal) (signaalpunt_goal_progress_ratio)", "{{goal}}", instant=True),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        table.Panel()
        .title("Goals: rates against their baseline")
        .description("Signals per day in the baseline and so far in the measurement period.")
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .with_target(
            query(
                "max by (goal) (signaalpunt_goal_baseline_signals_per_day)",
                "baseline per day",
                "A",
                instant=True,
            )
        )
        .with_target(
            query(
                "max by (goal) (signaalpunt_goal_signals_per_day)", "now per day", "B", instant=True
            )
        )
        .with_target(
            query("max by (goal) (signaalpunt_goal_change_ratio)", "change", "C", instant=True)
        )
        .with_target(
            query(
                "max by (goal) (signaalpunt_goal_target_change_ratio)", "target", "D", instant=True
            )
        )
        .with_target(
            query(
                "max by (goal) (signaalpunt_goal_period_elapsed_ratio)",
                "period elapsed",
                "E",
                instant=True,
            )
        )
    )
    return d


def follow_up() -> Dashboard:
    d = _dashboard(
        "signaalpunt-follow-up",
        "Signaalpunt – Follow-up and deadlines",
        "What becomes of signals: time to first contact, overdue signals, acute alerts. "
        + SUPPRESSED,
        "now-7d",
    )
    d = d.with_row(Row("Now"))
    d = d.with_panel(
        _stat(
            "Acute alerts waiting",
            "Acute-risk signals without first contact yet. Not suppressed: each one needs "
            "action now.",
            query(
                "max (signaalpunt_acute_alerts_waiting)",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _stat(
            "Oldest acute alert waiting",
            "The alert rule fires after an hour.",
            query("max (signaalpunt_acute_alert_oldest_wait_seconds)", instant=True),
            unit="s",
        )
    )
    d = d.with_panel(
        _stat(
            "Overdue signals",
            "Open signals past their first-contact deadline without contact (not suppressed: "
            "coordinators act on them).",
            query(
                "sum (max by (route, priority) (signaalpunt_signals_overdue))",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _stat(
            "Acute alerts picked up within an hour",
            "Share of acute alerts in the period followed by first contact within an hour. "
            + SUPPRESSED,
            query(
                counted("signaalpunt_acute_alerts_picked_up_within_hour_total", "", "")
                + " / "
                + counted("signaalpunt_acute_alerts_total", "", "")
                + " and on () ("
                + shown(counted("signaalpunt_acute_alerts_total", "", ""))
                + ")",
                instant=True,
            ),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        _series(
            "Open signals by state",
            "Signals not closed: received, triaged, in intake, referred. " + SUPPRESSED,
            query(
                shown("sum by (state) (max by (state) (signaalpunt_signals_open))"),
                "{{state}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Overdue signals by route",
            "Open signals past their first-contact deadline without first contact.",
            query(
                "sum by (route) (max by (route, priority) (signaalpunt_signals_overdue))",
                "{{route}}",
            ),
        )
    )
    d = d.with_row(Row("Durations"))
    d = d.with_panel(
        _series(
            "Time to first contact (median and 90th percentile, rolling 7 days)",
            "From receiving a signal to the reporter contacted or the intake held. " + SUPPRESSED,
            query(
                quantile(0.5, "signaalpunt_signal_time_to_first_contact_seconds", "route").replace(
                    "$__range", "7d"
                ),
                "median",
            ),
            query(
                quantile(0.9, "signaalpunt_signal_time_to_first_contact_seconds", "route").replace(
                    "$__range", "7d"
                ),
                "90th percentile",
                "B",
            ),
            unit="s",
        )
    )
    d = d.with_panel(
        _series(
            "Time to triage (median and 90th percentile, rolling 7 days)",
            "From receiving a signal to the rules' decision. " + SUPPRESSED,
            query(
                quantile(0.5, "signaalpunt_signal_time_to_triage_seconds", "channel").replace(
                    "$__range", "7d"
                ),
                "median",
            ),
            query(
                quantile(0.9, "signaalpunt_signal_time_to_triage_seconds", "channel").replace(
                    "$__range", "7d"
                ),
                "90th percentile",
                "B",
            ),
            unit="s",
        )
    )
    d = d.with_panel(
        _bars(
            "First contact within three days (selected period)",
            "Share of first contacts made within three days of receiving the signal, per route. "
            + SUPPRESSED,
            query(
                counted(
                    'signaalpunt_signal_time_to_first_contact_seconds_bucket{le="259200.0"}',
                    "route, le",
                    "route",
                )
                + " / "
                + counted(
                    "signaalpunt_signal_time_to_first_contact_seconds_count",
                    "route",
                    "route",
                )
                + " and on (route) ("
                + shown(
                    counted(
                        "signaalpunt_signal_time_to_first_contact_seconds_count",
                        "route",
                        "route",
                    )
                )
                + ")",
                "{{route}}",
                instant=True,
            ),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        _bars(
            "Missed first-contact deadlines (selected period)",
            "Deadlines that passed without first contact, per route. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_deadlines_missed_total",
                        "route, priority",
                        "route",
                    )
                ),
                "{{route}}",
                instant=True,
            ),
        )
    )
    d = d.with_row(Row("Referrals and the social map"))
    d = d.with_panel(
        _bars(
            "Gaps in the social map (selected period)",
            "Help questions with a need no eligible offer met (no_eligible_offer: nothing "
            "exists for this person) or only full ones did (all_full), per need: many grief "
            "questions and no grief group means start one. From referrals.gaps.v1. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_offer_gaps_total",
                        "need, reason",
                        "need, reason",
                    )
                ),
                "{{need}} ({{reason}})",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _bars(
            "Referrals by the status they reached (selected period)",
            "How many referrals reached each status: proposed, sent, accepted, declined, "
            "no_capacity, in_progress, completed, … (a referral counts under each status it "
            "passed). From referrals.v1. " + SUPPRESSED,
            query(
                shown(counted("signaalpunt_referrals_total", "status", "status")),
                "{{status}}",
                instant=True,
            ),
            span=8,
        )
    )
    d = d.with_panel(
        _stat(
            "Referrals escalated (selected period)",
            "Sent referrals the organisation did not answer within its working days; the "
            "coordinator on duty was told. " + SUPPRESSED,
            query(
                shown(counted("signaalpunt_referral_escalations_total", "", "")),
                instant=True,
            ),
            span=4,
        )
    )
    d = d.with_row(Row("Volunteer matching"))
    d = d.with_panel(
        _bars(
            "Match requests nobody could take, by failed constraint (selected period)",
            "Volunteer-type needs (buddy, practical help, questions of life) for which no "
            "volunteer was found, by the hard constraint that ruled out most volunteers "
            "(distance, vog, training, capacity, language, …): many 'distance' means recruit "
            "volunteers in that area, many 'training' means train more for existential "
            "conversations. From matches.v1. " + SUPPRESSED,
            query(
                shown(
                    counted(
                        "signaalpunt_unmatched_requests_total",
                        "constraint",
                        "constraint",
                    )
                ),
                "{{constraint}}",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _bars(
            "Volunteer matches by the status they reached (selected period)",
            "One match per volunteer asked: proposed, declined, expired (the next volunteer is "
            "asked), accepted, active, ended. From matches.v1. " + SUPPRESSED,
            query(
                shown(counted("signaalpunt_volunteer_matches_total", "status", "status")),
                "{{status}}",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Match requested → active (median and 90th percentile, rolling 28 days)",
            "From a volunteer-type need's match request to the first meeting of the volunteer "
            "and the person (the social worker records the match active): declines and expiries "
            "on the way included. From matches.v1. " + SUPPRESSED,
            query(
                quantile(0.5, "signaalpunt_match_time_to_active_seconds", "need").replace(
                    "$__range", "28d"
                ),
                "median",
            ),
            query(
                quantile(0.9, "signaalpunt_match_time_to_active_seconds", "need").replace(
                    "$__range", "28d"
                ),
                "90th percentile",
                "B",
            ),
            unit="s",
        )
    )
    return d


def pipeline_health() -> Dashboard:
    d = _dashboard(
        "signaalpunt-pipeline-health",
        "Signaalpunt – Pipeline health",
        "Throughput, consumer lag, dead letters, errors and latency per service.",
        "now-6h",
    )
    d = d.with_row(Row("Services"))
    d = d.with_panel(
        _bars(
            "Services up",
            "1 = Prometheus scrapes the service; the alert fires after two minutes down.",
            query('up{job=~"intake|triage|notifications|metrics"}', "{{job}}", instant=True),
            span=24,
        )
    )
    d = d.with_panel(
        _series(
            "Events handled per second",
            "Per service (job) and topic: handled events.",
            query(
                "sum by (job, topic) (rate("
                'signaalpunt_events_handled_total{outcome="handled"}[$__rate_interval]))',
                "{{job}} {{topic}}",
            ),
            unit="ops",
        )
    )
    d = d.with_panel(
        _series(
            "Duplicates and dead letters per second",
            "Duplicates are redeliveries the inbox absorbed; dead letters went to "
            "<topic>.dlq.<group>.",
            query(
                "sum by (job, topic, outcome) (rate("
                'signaalpunt_events_handled_total{outcome!="handled"}[$__rate_interval]))',
                "{{job}} {{topic}} {{outcome}}",
            ),
            unit="ops",
        )
    )
    d = d.with_panel(
        _series(
            "Consumer lag",
            "Events not yet committed, per consumer group and topic (all partitions).",
            query(
                "sum by (group, topic) "
                "(max by (group, topic, partition) (signaalpunt_consumer_lag))",
                "{{group}} {{topic}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Dead letters parked",
            "Events in each dead-letter topic since it was created (replay does not lower it).",
            query("max by (topic, group) (signaalpunt_dead_letters_total)", "{{group}} {{topic}}"),
        )
    )
    d = d.with_panel(
        _series(
            "Event handling latency (95th percentile)",
            "From delivery to commit of one event, per service and topic.",
            query(
                "histogram_quantile(0.95, sum by (job, topic, le) "
                "(rate(signaalpunt_event_handling_seconds_bucket[$__rate_interval])))",
                "{{job}} {{topic}}",
            ),
            unit="s",
        )
    )
    d = d.with_panel(
        _series(
            "HTTP requests per second",
            "Requests to each service's API, by service and status (4xx: refused input or "
            "access; 5xx: our fault).",
            query(
                "sum by (job, status) "
                "(rate(signaalpunt_http_request_duration_seconds_count[$__rate_interval]))",
                "{{job}} {{status}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "HTTP latency (95th percentile)",
            "Time to answer, per service and route (the route template, never an id).",
            query(
                "histogram_quantile(0.95, sum by (job, route, le) "
                "(rate(signaalpunt_http_request_duration_seconds_bucket[$__rate_interval])))",
                "{{job}} {{route}}",
            ),
            unit="s",
        )
    )
    d = d.with_panel(
        _series(
            "Errors per second",
            "Handler exceptions (before retries), failed publishes and failed outbox relay "
            "rounds, per service.",
            query(
                "sum by (job) (rate("
                "faststream_received_processed_messages_exceptions_total[$__rate_interval]))",
                "{{job}} handling",
            ),
            query(
                "sum by (job) (rate("
                "faststream_published_messages_exceptions_total[$__rate_interval]))",
                "{{job}} publishing",
                "B",
            ),
            query(
                "sum by (job) (rate(signaalpunt_outbox_relay_failures_total[$__rate_interval]))",
                "{{job}} outbox relay",
                "C",
            ),
            unit="ops",
        )
    )
    d = d.with_panel(
        _series(
            "Events published from outboxes per second",
            "The outbox relay of each service; one relay is active per service.",
            query(
                "sum by (job, topic) (rate(signaalpunt_outbox_published_total[$__rate_interval]))",
                "{{job}} {{topic}}",
            ),
            unit="ops",
        )
    )
    d = d.with_panel(
        _series(
            "Notifications by outcome",
            "Messages sent, queued (quiet hours) or failed, per template.",
            query(
                "sum by (template, status) (max by (template, channel, status) "
                "(increase(signaalpunt_notifications_total[1h])))",
                "{{template}} {{status}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "Metrics refresh errors",
            "The metrics service could not read its database or Kafka (figures are stale).",
            query(
                "sum (increase(signaalpunt_metrics_refresh_errors_total[$__rate_interval]))",
                "errors",
            ),
        )
    )
    d = d.with_row(Row("Kafka and PostgreSQL"))
    d = d.with_panel(
        _stat(
            "Kafka brokers",
            "Brokers in the cluster as the Kafka exporter sees them (compose: kafka-exporter; "
            "k8s: Strimzi's Kafka Exporter), else as the metrics service reads them from the "
            "cluster's metadata.",
            query("max (kafka_brokers) or max (signaalpunt_kafka_brokers)", instant=True),
            span=6,
        )
    )
    d = d.with_panel(
        _stat(
            "Under-replicated partitions",
            "Partitions with fewer in-sync replicas than replicas: a broker down or behind "
            "(the Kafka exporter's figure, else the metrics service's, for the registry's "
            "topics).",
            query(
                "sum (max by (topic, partition) "
                "(kafka_topic_partition_under_replicated_partition)) "
                "or sum (max by (topic) (signaalpunt_kafka_under_replicated_partitions))",
                instant=True,
            ),
            span=6,
        )
    )
    d = d.with_panel(
        _stat(
            "PostgreSQL up",
            "1 = the exporter reaches PostgreSQL (compose: postgres-exporter; k8s: each "
            "CloudNativePG instance).",
            query("min (pg_up) or min (cnpg_collector_up)", instant=True),
            span=6,
        )
    )
    d = d.with_panel(
        _stat(
            "PostgreSQL connections",
            "Server connections now (the services' pools, the migrations, the exporter).",
            query("sum (pg_stat_database_numbackends) or sum (cnpg_backends_total)", instant=True),
            span=6,
        )
    )
    d = d.with_panel(
        _series(
            "Kafka consumer group lag (the broker's view)",
            "Per consumer group, all partitions: the same figure as 'Consumer lag' above, from "
            "the broker (it also shows groups whose metrics service is down).",
            query(
                "sum by (consumergroup) (max by (consumergroup, topic, partition) "
                "(kafka_consumergroup_lag))",
                "{{consumergroup}}",
            ),
        )
    )
    d = d.with_panel(
        _series(
            "PostgreSQL transactions per second",
            "Commits and rollbacks over every database of the server; deadlocks.",
            query(
                "sum (rate(pg_stat_database_xact_commit[$__rate_interval])) "
                "or sum (rate(cnpg_pg_stat_database_xact_commit[$__rate_interval]))",
                "commits",
            ),
            query(
                "sum (rate(pg_stat_database_xact_rollback[$__rate_interval])) "
                "or sum (rate(cnpg_pg_stat_database_xact_rollback[$__rate_interval]))",
                "rollbacks",
                "B",
            ),
            query(
                "sum (rate(pg_stat_database_deadlocks[$__rate_interval])) "
                "or sum (rate(cnpg_pg_stat_database_deadlocks[$__rate_interval]))",
                "deadlocks",
                "C",
            ),
            unit="ops",
        )
    )
    return d


# -- the mission: signals per channel and municipality per day, week and month ---------------

AREA = 'area="$area"'
PERIOD = 'period="$period"'
LAST = f"and on (period, start) (signaalpunt_mission_period_ago{{{PERIOD}}} == 1)"
HIDDEN = f"< {SMALL_COUNT}"
MISSION_NOTE = (
    "Counted by the metrics service per complete period (Europe/Amsterdam days, ISO weeks, "
    f"calendar months) and published only when at least {SMALL_COUNT} (or 0); a hidden count "
    f"shows as '{HIDDEN}' or no bar. A municipality's count can also be hidden when it would "
    "otherwise give away a hidden one by subtraction from a total (docs/metrics.md)."
)


def _cells(by: str, where: str, breakdown: str = "", *, last: bool = False) -> str:
    """Published counts per `by` plus the area's total as a column `total`; hidden counts as -1
    (shown as HIDDEN by a value mapping). The breakdown and its total are distinct families,
    so `or` never meets two series with the same labels."""
    family = "signaalpunt_signals_in_period" + breakdown
    where = f"{{{where}}}" + (f" {LAST}" if last else "")
    column = by.rsplit(", ", maxsplit=1)[-1]
    key = ", ".join(part for part in by.split(", ") if part != column)
    total = "signaalpunt_signals_in_period_all_channels"
    parts = [
        f"max by ({by}) ({family}{where})",
        f'label_replace(max by ({key}) ({total}{where}), "{column}", "total", "", "")',
        f"-1 * max by ({by}) ({family}_suppressed{where})",
        f'label_replace(-1 * max by ({key}) ({total}_suppressed{where}), "{column}", "total",'
        ' "", "")',
    ]
    return " or ".join(parts)


def _matrix(row: str, column: str) -> list[DataTransformerConfig]:
    """One row per `row` label, one column per `column` label (Grafana's grouping to matrix)."""
    return [
        DataTransformerConfig(
            id_val="groupingToMatrix",
            options={"rowField": row, "columnField": column, "valueField": "Value"},
        ),
        DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": f"{row}\\{column}"}]}),
    ]


def _table_query(expr: str) -> Dataquery:
    return query(expr, instant=True).format(PromQueryFormat.TABLE)


def _period_bars(title: str, description: str, expr: str, column: str, *, stacked: bool) -> Any:
    return (
        barchart.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(24)
        .height(9)
        .x_field(f"start\\{column}")
        .stacking(StackingMode.NORMAL if stacked else StackingMode.NONE)
        .min(0)
        # Grafana's own defaults, written out: the SDK reads them back in, so the JSON it reads
        # equals the JSON committed
        .fill_opacity(80)
        .gradient_mode(GraphGradientMode.NONE)
        .line_width(1)
        # one colour per channel (or partner type, or area): the reader needs the legend, and
        # the tooltip lists every part of a stacked bar
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE))
        .with_target(_table_query(expr))
        .transformations(_matrix("start", column))
    )


def _count_table(title: str, description: str, expr: str, row: str, column: str) -> Any:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(24)
        .height(9)
        .mappings([ValueMap({"-1": ValueMappingResult(text=HIDDEN)})])
        .align(FieldTextAlignment.AUTO)  # Grafana's defaults, as the SDK reads them back
        .inspect(False)
        .with_target(_table_query(expr))
        .transformations(_matrix(row, column))
    )


def _area_variable() -> QueryVariable:
    return (
        QueryVariable("area")
        .label("Gebied / area")
        .description("A municipality (CBS code) or the whole consortium")
        .datasource(DATASOURCE)
        .query("label_values(signaalpunt_area_inhabitants, area)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .current(VariableOption(selected=True, text=CONSORTIUM, value=CONSORTIUM))
    )


def _period_variable() -> CustomVariable:
    return (
        CustomVariable("period")
        .label("Periode / period")
        .values("day,week,month")
        .current(VariableOption(selected=True, text="week", value="week"))
    )


def mission() -> Dashboard:
    d = _dashboard(
        "signaalpunt-mission",
        "Signaalpunt – Signals per channel and municipality",
        "The mission's figure: signals per channel per municipality per day, week and month, "
        "for the consortium, per partner type and per 1,000 inhabitants, and the change "
        "against the period before. " + MISSION_NOTE,
        "now-24h",  # every panel shows the complete periods as published at the range's end
    )
    d = d.with_variable(_area_variable()).with_variable(_period_variable())
    return _mission_rates(_mission_channels(d))


def _mission_channels(d: Dashboard) -> Dashboard:
    """Totals, change, and the channels per period: bars, and tables with totals."""
    where = f"{AREA}, {PERIOD}"
    d = d.with_row(Row("Signals per channel"))
    d = d.with_panel(
        _stat(
            "Consortium: signals in the last complete $period",
            "All municipalities together, all channels. " + MISSION_NOTE,
            query(
                "max (signaalpunt_signals_in_period_all_channels"
                f'{{area="{CONSORTIUM}", {PERIOD}}} {LAST})',
                instant=True,
            ),
            span=8,
        )
    )
    d = d.with_panel(
        _stat(
            "$area: signals in the last complete $period",
            "All channels. " + MISSION_NOTE,
            query(
                f"max (signaalpunt_signals_in_period_all_channels{{{where}}} {LAST})", instant=True
            ),
            span=8,
        )
    )
    d = d.with_panel(
        _stat(
            "$area: change against the $period before",
            "The last complete period against the one before (for SMART goals); absent when "
            "either count is hidden or the one before had no signals.",
            query(f"max (signaalpunt_signals_period_change_ratio{{{where}}})", instant=True),
            unit="percentunit",
            span=8,
        )
    )
    d = d.with_panel(
        _period_bars(
            "$area: signals per channel per $period",
            "Web form, phone desk, partner portal and partner systems, per complete period. "
            + MISSION_NOTE,
            f"max by (start, channel) (signaalpunt_signals_in_period{{{where}}})",
            "channel",
            stacked=True,
        )
    )
    d = d.with_panel(
        _count_table(
            "$area: signals per channel per $period, with totals",
            "One row per period, one column per channel and the total (which counts hidden "
            "cells too). " + MISSION_NOTE,
            _cells("start, channel", where),
            "start",
            "channel",
        )
    )
    d = d.with_panel(
        _count_table(
            "Municipalities and the consortium: signals per channel in the last complete $period",
            "One row per municipality and one for the consortium. The consortium's row is the "
            "real total: the published municipalities plus the hidden ones, which are then at "
            f"least two that together hold at least {SMALL_COUNT}. " + MISSION_NOTE,
            _cells("area, channel", PERIOD, last=True),
            "area",
            "channel",
        )
    )
    d = d.with_panel(
        _bars(
            "Change against the $period before, per municipality",
            "Last complete period against the one before, all channels.",
            query(
                f"max by (area) (signaalpunt_signals_period_change_ratio{{{PERIOD}}})",
                "{{area}}",
                instant=True,
            ),
            unit="percentunit",
        )
    )
    return d


def _mission_rates(d: Dashboard) -> Dashboard:
    """Partner types and signals per 1,000 inhabitants."""
    where = f"{AREA}, {PERIOD}"
    d = d.with_row(Row("Per partner type"))
    d = d.with_panel(
        _period_bars(
            "$area: signals from partners per partner type per $period",
            "GP (huisarts), supermarket, Wmo desk, housing corporation, … " + MISSION_NOTE,
            "max by (start, partner_type) (signaalpunt_signals_in_period_by_partner_type"
            f'{{{where}, partner_type!="none"}})',
            "partner_type",
            stacked=True,
        )
    )
    d = d.with_row(Row("Per 1,000 inhabitants"))
    d = d.with_panel(
        _period_bars(
            "Signals per 1,000 inhabitants per $period",
            "Per municipality and for the consortium; population from the metrics service's "
            "inhabitants.yaml. Absent where the count is hidden.",
            "max by (start, area) (signaalpunt_signals_in_period_per_1000_inhabitants"
            f"{{{PERIOD}}})",
            "area",
            stacked=False,
        )
    )
    d = d.with_panel(
        _bars(
            "Signals per 1,000 inhabitants in the last complete $period",
            "Per municipality and for the consortium. Absent where the count is hidden.",
            query(
                "max by (area) (signaalpunt_signals_in_period_per_1000_inhabitants"
                f"{{{PERIOD}}} {LAST})",
                "{{area}}",
                instant=True,
            ),
        )
    )
    return d


DASHBOARDS = {
    "mission.json": mission,
    "overview.json": overview,
    "follow-up-and-deadlines.json": follow_up,
    "pipeline-health.json": pipeline_health,
}


def render() -> dict[str, str]:
    """File name → JSON text, exactly as committed."""
    rendered = {}
    for name, build in DASHBOARDS.items():
        model = build().build()
        for number, panel in enumerate(model.panels or [], start=1):
            panel.id_val = number  # Grafana wants every panel's id to be unique on its dashboard
            _link_runbooks(panel)
        rendered[name] = json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
    return rendered


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stale = []
    for name, content in render().items():
        path = OUT / name
        if "--check" in args:
            if not path.exists() or path.read_text() != content:
                stale.append(name)
        else:
            path.write_text(content)
            sys.stdout.write(f"wrote {path.relative_to(OUT.parents[2])}\n")
    if stale:
        sys.stdout.write(f"stale (run python -m signaalpunt_metrics.dashboards): {stale}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
