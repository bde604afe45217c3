"""The mission's period counts and their small-count suppression, as pure rules: what may be
published, what adds up to what, and that nothing hidden can be had by subtraction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from signaalpunt_metrics.domain import SMALL_COUNT, Municipality
from signaalpunt_metrics.mission import (
    CONSORTIUM,
    WINDOW,
    Breakdown,
    Cell,
    Group,
    PeriodKind,
    Received,
    additions,
    complete_periods,
    mission_figures,
    period_start,
    suppress,
)

TODAY = date(2026, 12, 2)  # a Wednesday
YESTERDAY = TODAY - timedelta(days=1)
PLACES = {
    "GM0715": Municipality("GM0715", "Terneuzen", 54900),
    "GM0687": Municipality("GM0687", "Middelburg", 49900),
    "GM1714": Municipality("GM1714", "Sluis", 23400),
}
CHANNELS = ["partner_event", "web_form", "phone", "partner_portal"]
DAY = PeriodKind.DAY


def _day(municipality: str, channel: str, n: int, partner_type: str = "none") -> Received:
    return Received(DAY, YESTERDAY, municipality, channel, partner_type, n)


def test_complete_periods_are_calendar_days_iso_weeks_and_months_before_today() -> None:
    assert complete_periods(PeriodKind.DAY, TODAY, 2) == [date(2026, 11, 30), date(2026, 12, 1)]
    # the week of Wednesday 2 December started on Monday 30 November: not complete yet
    assert complete_periods(PeriodKind.WEEK, TODAY, 2) == [date(2026, 11, 16), date(2026, 11, 23)]
    assert complete_periods(PeriodKind.MONTH, date(2026, 3, 31), 3) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


def test_a_municipality_with_three_signals_publishes_no_count_and_the_total_adds_up() -> None:
    figures = mission_figures(
        [
            _day("GM1714", "web_form", 3),  # Sluis: 3, below the threshold
            _day("GM0687", "web_form", 6),  # Middelburg
            _day("GM0715", "web_form", 7),  # Terneuzen
        ],
        municipalities=PLACES,
        channels=CHANNELS,
        today=TODAY,
    )
    sluis = (DAY, YESTERDAY, "GM1714", Breakdown.ALL, "")
    assert sluis not in figures.counts
    assert sluis in figures.hidden
    assert (DAY, YESTERDAY, "GM1714", Breakdown.CHANNEL, "web_form") in figures.hidden
    # Sluis alone hidden would be the consortium minus the others: the smallest other is hidden
    # too, so the hidden part (3 + 6) is two municipalities and at least SMALL_COUNT
    middelburg = (DAY, YESTERDAY, "GM0687", Breakdown.ALL, "")
    assert middelburg in figures.hidden
    assert figures.counts[(DAY, YESTERDAY, "GM0715", Breakdown.ALL, "")] == 7
    consortium = figures.counts[(DAY, YESTERDAY, CONSORTIUM, Breakdown.ALL, "")]
    assert consortium == 16  # the real total: published parts + hidden parts
    # no rate or change from a hidden count
    assert (DAY, YESTERDAY, "GM1714") not in figures.per_1000
    assert figures.per_1000[(DAY, YESTERDAY, "GM0715")] == 1000 * 7 / 54900
    # days without signals are published as 0 (they name no one)
    assert figures.counts[(DAY, YESTERDAY - timedelta(days=1), "GM1714", Breakdown.ALL, "")] == 0


def test_the_change_compares_the_last_complete_period_with_the_one_before() -> None:
    before = YESTERDAY - timedelta(days=1)
    figures = mission_figures(
        [
            _day("GM0715", "web_form", 10),
            Received(DAY, before, "GM0715", "web_form", "none", 8),
            Received(DAY, before, "GM0687", "phone", "none", 6),  # hidden with Sluis's 2 …
            Received(DAY, before, "GM1714", "phone", "none", 2),
        ],
        municipalities=PLACES,
        channels=CHANNELS,
        today=TODAY,
    )
    assert figures.change[(DAY, "GM0715")] == 10 / 8 - 1
    assert (DAY, "GM0687") not in figures.change  # … so no change for either
    assert (DAY, "GM1714") not in figures.change
    assert figures.ago[(DAY, YESTERDAY)] == 1
    assert figures.ago[(DAY, before)] == 2


def test_the_days_of_a_week_do_not_give_away_a_hidden_day() -> None:
    monday = date(2026, 11, 23)
    rows = [Received(DAY, monday, "GM0715", "web_form", "none", 3)]
    rows += [Received(DAY, monday + timedelta(days=1), "GM0715", "web_form", "none", 9)]
    rows += [Received(PeriodKind.WEEK, monday, "GM0715", "web_form", "none", 12)]
    figures = mission_figures(rows, municipalities=PLACES, channels=CHANNELS, today=TODAY)
    week = (PeriodKind.WEEK, monday, "GM0715", Breakdown.ALL, "")
    assert week not in figures.hidden  # 12: shown
    tuesday = (DAY, monday + timedelta(days=1), "GM0715", Breakdown.ALL, "")
    assert tuesday in figures.hidden  # else week − Tuesday = Monday's 3


def _protected(counts: Mapping[Cell, int], hidden: set[Cell], groups: list[Group]) -> bool:
    """Every shown total: no hidden part, or at least two that hold SMALL_COUNT together."""
    for g in groups:
        if g.total in hidden:
            continue
        parts = [p for p in g.parts if p in hidden]
        if parts and (len(parts) < 2 or sum(counts[p] for p in parts) < SMALL_COUNT):
            return False
    return True


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(PLACES)),
            st.sampled_from(CHANNELS),
            st.sampled_from(["none", "huisarts", "kapper"]),
            st.integers(min_value=1, max_value=12),
            st.integers(min_value=1, max_value=40),  # days back
        ),
        max_size=30,
    )
)
def test_nothing_below_the_threshold_is_published_and_no_hidden_cell_can_be_subtracted(
    raw: list[tuple[str, str, str, int, int]],
) -> None:
    rows = [Received(DAY, TODAY - timedelta(days=back), m, c, p, n) for m, c, p, n, back in raw]
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH):  # the same signals per week and month
        per: dict[tuple[date, str, str, str], int] = {}
        for r in rows[: len(raw)]:
            key = (period_start(kind, r.start), r.municipality, r.channel, r.partner_type)
            per[key] = per.get(key, 0) + r.count
        rows += [Received(kind, s, m, c, p, n) for (s, m, c, p), n in per.items()]
    figures = mission_figures(rows, municipalities=PLACES, channels=CHANNELS, today=TODAY)
    everything = mission_figures(
        rows, municipalities=PLACES, channels=CHANNELS, today=TODAY, threshold=1
    ).counts  # threshold 1: nothing hidden
    assert all(n == 0 or n >= SMALL_COUNT for n in figures.counts.values())
    assert set(figures.counts) | figures.hidden == set(everything)
    assert all(figures.counts[c] == n for c, n in everything.items() if c in figures.counts)
    starts = {kind: complete_periods(kind, TODAY, WINDOW[kind]) for kind in PeriodKind}
    partner_types = sorted({r.partner_type for r in rows} | {"none"})
    groups = additions(
        starts,
        [*sorted(PLACES), CONSORTIUM],
        {Breakdown.CHANNEL: CHANNELS, Breakdown.PARTNER_TYPE: partner_types},
    )
    assert _protected(everything, figures.hidden, groups)
    # and the groups really are additions: published + hidden parts make each total
    for g in groups:
        assert sum(everything[p] for p in g.parts) == everything[g.total], g.total


def test_suppress_hides_the_smallest_other_part_then_the_total_if_nothing_else_is_left() -> None:
    a, b, c, total = (_cell("a"), _cell("b"), _cell("c"), _cell(""))
    counts = {a: 2, b: 9, c: 7, total: 18}
    groups = [Group((a, b, c), total)]
    assert suppress(counts, groups, SMALL_COUNT) == {a, c}
    assert _protected(counts, {a, c}, groups)
    # a total that only a small part makes is small itself: hidden by the first rule
    counts = {a: 4, b: 0, total: 4}
    assert suppress(counts, [Group((a, b), total)], SMALL_COUNT) == {a, total}


def _cell(channel: str) -> Cell:
    return (DAY, YESTERDAY, "GM0715", Breakdown.CHANNEL if channel else Breakdown.ALL, channel)
