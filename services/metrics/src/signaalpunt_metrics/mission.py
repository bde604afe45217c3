"""The mission's figures, without I/O: signals per channel, per partner type and in all, per
municipality and for the consortium, per day, ISO week and calendar month, with small counts
suppressed before anything is published.

Why here and not in PromQL: Prometheus stores what `/metrics` publishes, so a count the
dashboards hide would still be in Prometheus and in every copy of it. The service therefore
publishes a period's counts only when the period is over (a running count would tell each new
signal by the step it takes between two scrapes), and only cells that pass the rules below.

The rules (docs/metrics.md, "Small counts are suppressed"):
1. primary: a count from 1 to SMALL_COUNT - 1 is not published (0 is: it names no one);
2. secondary: wherever published parts add up to a published total (the channels of a
   municipality to its total, the municipalities to the consortium, the days of a week or month
   to that week or month), the hidden parts of that total are either none, or at least two that
   together hold at least SMALL_COUNT signals; otherwise the smallest published part is hidden
   too (and so on until every such total holds). So no hidden count can be had by subtraction
   within one period or from the days of a week or month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from .domain import SMALL_COUNT, Municipality

CONSORTIUM = "consortium"
"""The `area` label of the consortium's figures (all configured municipalities together)."""


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO week, from Monday
    MONTH = "month"


WINDOW = {PeriodKind.DAY: 31, PeriodKind.WEEK: 13, PeriodKind.MONTH: 13}
"""How many complete periods are published: a month of days, a quarter of weeks, a year of
months and the same month a year before (older figures stay in the read model)."""


class Breakdown(StrEnum):
    CHANNEL = "channel"
    PARTNER_TYPE = "partner_type"
    ALL = "all"  # every channel together: the area's total


Cell = tuple[PeriodKind, date, str, Breakdown, str]
"""(period kind, period start, area, breakdown, channel or partner type; "" for ALL)."""


def period_start(kind: PeriodKind, day: date) -> date:
    if kind is PeriodKind.DAY:
        return day
    if kind is PeriodKind.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_start(kind: PeriodKind, start: date) -> date:
    if kind is PeriodKind.DAY:
        return start + timedelta(days=1)
    if kind is PeriodKind.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_start(kind: PeriodKind, start: date) -> date:
    return period_start(kind, start - timedelta(days=1))


def complete_periods(kind: PeriodKind, today: date, count: int) -> list[date]:
    """The starts of the last `count` periods that ended before `today`, oldest first."""
    starts = []
    start = period_start(kind, today)
    for _ in range(count):
        start = _previous_start(kind, start)
        starts.append(start)
    return starts[::-1]


@dataclass(frozen=True)
class Received:
    """Signals received in one period, one municipality, one channel and partner type."""

    kind: PeriodKind
    start: date
    municipality: str
    channel: str
    partner_type: str
    count: int


@dataclass(frozen=True)
class Group:
    """Parts that add up to a total; both published or hidden per cell."""

    parts: tuple[Cell, ...]
    total: Cell


def suppress(counts: Mapping[Cell, int], groups: Sequence[Group], threshold: int) -> set[Cell]:
    """The cells not to publish: primary (1 .. threshold-1), then secondary until every total
    that is shown leaves no hidden part to be had by subtraction (module docstring)."""
    hidden = {cell for cell, n in counts.items() if 0 < n < threshold}
    by_part: dict[Cell, list[Group]] = defaultdict(list)
    for group in groups:
        for part in group.parts:
            by_part[part].append(group)
    todo = list(groups)
    while todo:
        group = todo.pop()
        if group.total in hidden:
            continue
        parts = [p for p in group.parts if p in hidden]
        if not parts or (len(parts) >= 2 and sum(counts[p] for p in parts) >= threshold):
            continue
        shown = [p for p in group.parts if p not in hidden and counts[p] > 0]
        extra = min(shown, key=lambda p: (counts[p], p)) if shown else group.total
        hidden.add(extra)
        todo.append(group)  # check it again with the extra cell hidden
        todo.extend(by_part.get(extra, ()))  # and every other total that cell is part of
    return hidden


@dataclass
class MissionFigures:
    """What `/metrics` publishes for the mission dashboard; hidden cells carry no count."""

    counts: dict[Cell, int] = field(default_factory=dict)
    """Published counts only."""
    hidden: set[Cell] = field(default_factory=set)
    per_1000: dict[tuple[PeriodKind, date, str], float] = field(default_factory=dict)
    change: dict[tuple[PeriodKind, str], float] = field(default_factory=dict)
    """Last complete period against the one before (0.1 = +10 %), per kind and area."""
    ago: dict[tuple[PeriodKind, date], int] = field(default_factory=dict)
    """How many periods back each published period is (1: the last complete one)."""
    inhabitants: dict[str, int] = field(default_factory=dict)


def mission_figures(
    rows: Iterable[Received],
    *,
    municipalities: Mapping[str, Municipality],
    channels: Sequence[str],
    today: date,
    threshold: int = SMALL_COUNT,
    window: Mapping[PeriodKind, int] = WINDOW,
) -> MissionFigures:
    """Every cell of every complete period in the window, zeros included, then suppression.
    The consortium counts every configured municipality (signals of an unconfigured code are
    left out, so that the parts add up to it)."""
    areas = [*sorted(municipalities), CONSORTIUM]
    starts = {kind: complete_periods(kind, today, window[kind]) for kind in PeriodKind}
    rows = [r for r in rows if r.municipality in municipalities and r.start in starts[r.kind]]
    partner_types = sorted({r.partner_type for r in rows} | {"none"})
    values = {Breakdown.CHANNEL: list(channels), Breakdown.PARTNER_TYPE: partner_types}

    counts = _zeros(starts, areas, values)
    for r in rows:
        for area in (r.municipality, CONSORTIUM):
            for cell in (
                (r.kind, r.start, area, Breakdown.ALL, ""),
                (r.kind, r.start, area, Breakdown.CHANNEL, r.channel),
                (r.kind, r.start, area, Breakdown.PARTNER_TYPE, r.partner_type),
            ):
                if cell in counts:  # a channel outside the contract's list has no column
                    counts[cell] = counts[cell] + r.count

    hidden = suppress(counts, additions(starts, areas, values), threshold)
    figures = MissionFigures(
        counts={cell: n for cell, n in counts.items() if cell not in hidden},
        hidden=hidden,
        inhabitants={code: m.inhabitants for code, m in municipalities.items()},
    )
    figures.inhabitants[CONSORTIUM] = sum(figures.inhabitants.values())
    for kind, kind_starts in starts.items():
        _derived(figures, kind, kind_starts, areas)
    return figures


def _derived(
    figures: MissionFigures, kind: PeriodKind, starts: list[date], areas: Sequence[str]
) -> None:
    """Rates and changes only from published counts: a hidden count hides what it gives."""
    for back, start in enumerate(reversed(starts), start=1):
        figures.ago[(kind, start)] = back
        for area in areas:
            total = figures.counts.get((kind, start, area, Breakdown.ALL, ""))
            if total is not None and figures.inhabitants[area] > 0:
                figures.per_1000[(kind, start, area)] = 1000 * total / figures.inhabitants[area]
    if len(starts) < 2:
        return
    before, last = starts[-2], starts[-1]
    for area in areas:
        now = figures.counts.get((kind, last, area, Breakdown.ALL, ""))
        then = figures.counts.get((kind, before, area, Breakdown.ALL, ""))
        if now is not None and then:  # both published, and a change from 0 is no ratio
            figures.change[(kind, area)] = now / then - 1


def _zeros(
    starts: Mapping[PeriodKind, list[date]],
    areas: Sequence[str],
    values: Mapping[Breakdown, list[str]],
) -> dict[Cell, int]:
    """Every cell at 0: a period without signals is published as 0, not left out."""
    counts: dict[Cell, int] = {}
    for kind, kind_starts in starts.items():
        for start in kind_starts:
            for area in areas:
                counts[(kind, start, area, Breakdown.ALL, "")] = 0
                for breakdown, names in values.items():
                    for name in names:
                        counts[(kind, start, area, breakdown, name)] = 0
    return counts


def additions(
    starts: Mapping[PeriodKind, list[date]],
    areas: Sequence[str],
    values: Mapping[Breakdown, list[str]],
) -> list[Group]:
    """Every published total with the published parts that add up to it."""
    municipalities = [a for a in areas if a != CONSORTIUM]
    groups: list[Group] = []
    for kind, kind_starts in starts.items():
        for start in kind_starts:
            # the channels (or partner types) of an area add up to its total
            for area in areas:
                for breakdown, names in values.items():
                    groups.append(
                        Group(
                            tuple((kind, start, area, breakdown, n) for n in names),
                            (kind, start, area, Breakdown.ALL, ""),
                        )
                    )
            # the municipalities add up to the consortium, per channel, partner type and in all
            cells = [(Breakdown.ALL, "")] + [(b, n) for b, names in values.items() for n in names]
            for breakdown, name in cells:
                groups.append(
                    Group(
                        tuple((kind, start, m, breakdown, name) for m in municipalities),
                        (kind, start, CONSORTIUM, breakdown, name),
                    )
                )
    # the days of a whole week or month in the window add up to that week or month
    days = set(starts[PeriodKind.DAY])
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH):
        for start in starts[kind]:
            span = []
            day = start
            while day < next_start(kind, start):
                span.append(day)
                day += timedelta(days=1)
            if not all(d in days for d in span):
                continue
            for area in areas:
                cells = [(Breakdown.ALL, "")] + [
                    (b, n) for b, names in values.items() for n in names
                ]
                for breakdown, name in cells:
                    groups.append(
                        Group(
                            tuple((PeriodKind.DAY, d, area, breakdown, name) for d in span),
                            (kind, start, area, breakdown, name),
                        )
                    )
    return groups
