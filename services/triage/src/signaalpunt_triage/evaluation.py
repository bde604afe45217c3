"""Measuring triage on the evaluation corpus (`services/triage/corpus/`): recall, precision and
false alarms per tier and per risk group, and every miss with the cues that fired.

Pure: reads the corpus file and the rules, decides each text as the service would (same
`decide`), and renders a report. `make eval-triage` runs it and keeps the last report under
`bench/results/`; the test suite holds the recorded figures (tests/test_triage_corpus.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import yaml
from signaalpunt_contracts import (
    Channel,
    Concern,
    Reporter,
    ReporterKind,
    RiskGroup,
    Route,
    SignalReceivedV1,
    Subject,
)

from .decisions import Decision, decide
from .rules import RuleSet

TIERS = ("acuut", "mogelijk_acuut", "geen")
RISK_TIERS = frozenset({"acuut", "mogelijk_acuut"})
RECEIVED_AT = datetime(2026, 11, 23, 9, 14, tzinfo=ZoneInfo("Europe/Amsterdam"))
"""Every corpus text is received at this moment: ages in the corpus are counted from it."""

SERVICE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = (
    SERVICE_ROOT / "corpus" / "signals.yaml",
    SERVICE_ROOT / "corpus" / "round2.yaml",
)


@dataclass(frozen=True)
class CorpusText:
    """One written signal with what a coordinator would decide."""

    id: str
    text: str
    tier: str
    groups: frozenset[str]
    kind: str
    birth_year: int | None = None
    source: str = "signals"  # the corpus file it comes from


def load_corpus(paths: Sequence[Path] = DEFAULT_CORPUS) -> tuple[CorpusText, ...]:
    texts = []
    known_groups = {g.value for g in RiskGroup}
    for path in paths:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in raw["signals"]:
            item = CorpusText(
                id=entry["id"],
                text=entry["text"],
                tier=entry["tier"],
                groups=frozenset(entry.get("groups", ())),
                kind=entry["kind"],
                birth_year=entry.get("birth_year"),
                source=path.stem,
            )
            if item.tier not in TIERS or not item.groups <= known_groups:
                raise ValueError(f"{path}: {item.id}: unknown tier or risk group")
            texts.append(item)
    if len({t.id for t in texts}) != len(texts):
        raise ValueError("corpus ids are not unique")
    return tuple(texts)


def tier_of(decision: Decision) -> str:
    if decision.route is Route.ACUUT:
        return "acuut"
    if decision.route is Route.MOGELIJK_ACUUT:
        return "mogelijk_acuut"
    return "geen"


def _signal(item: CorpusText, number: int) -> SignalReceivedV1:
    return SignalReceivedV1(
        signal_id=UUID(int=number + 1),
        subject_id=UUID(int=number + 1),
        channel=Channel.WEB_FORM,
        reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR),
        subject=Subject(birth_year=item.birth_year),
        concern=Concern(cues=()),
        received_at=RECEIVED_AT,
    )


@dataclass(frozen=True)
class Outcome:
    item: CorpusText
    tier: str
    groups: frozenset[str]
    cues: tuple[str, ...]  # what fired, with the matched words

    @property
    def tier_missed(self) -> bool:
        """A risk text that got a lower tier than written (acuut as mogelijk counts too)."""
        return TIERS.index(self.tier) > TIERS.index(self.item.tier)


@dataclass(frozen=True)
class Ratio:
    hit: int
    total: int

    @property
    def value(self) -> float:
        return self.hit / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.hit}/{self.total})"


@dataclass(frozen=True)
class Evaluation:
    rules_version: str
    outcomes: tuple[Outcome, ...]
    tier_recall: dict[str, Ratio] = field(default_factory=dict)
    tier_precision: dict[str, Ratio] = field(default_factory=dict)
    group_recall: dict[str, Ratio] = field(default_factory=dict)
    group_precision: dict[str, Ratio] = field(default_factory=dict)

    def _of(self, source: str | None) -> list[Outcome]:
        return [o for o in self.outcomes if source is None or o.item.source == source]

    def risk_recall_of(self, source: str | None = None) -> Ratio:
        """Acute and possible-acute texts that reached at least possible-acute."""
        risky = [o for o in self._of(source) if o.item.tier in RISK_TIERS]
        return Ratio(sum(o.tier in RISK_TIERS for o in risky), len(risky))

    def false_alarms_of(self, source: str | None = None) -> Ratio:
        """Texts without risk raised to possible-acute or acute."""
        calm = [o for o in self._of(source) if o.item.tier == "geen"]
        return Ratio(sum(o.tier in RISK_TIERS for o in calm), len(calm))

    @property
    def risk_recall(self) -> Ratio:
        return self.risk_recall_of()

    @property
    def false_alarms(self) -> Ratio:
        return self.false_alarms_of()

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(o.item.source for o in self.outcomes))

    @property
    def acute_recall(self) -> Ratio:
        acute = [o for o in self.outcomes if o.item.tier == "acuut"]
        return Ratio(sum(o.tier == "acuut" for o in acute), len(acute))

    def summary(self) -> dict[str, object]:
        return {
            "rules_version": self.rules_version,
            "texts": len(self.outcomes),
            "risk_recall": self.risk_recall.value,
            "acute_recall": self.acute_recall.value,
            "false_alarm_rate": self.false_alarms.value,
            "per_corpus_file": {
                source: {
                    "risk_recall": self.risk_recall_of(source).value,
                    "false_alarm_rate": self.false_alarms_of(source).value,
                }
                for source in self.sources
            },
            "tier_recall": {k: v.value for k, v in self.tier_recall.items()},
            "tier_precision": {k: v.value for k, v in self.tier_precision.items()},
            "group_recall": {k: v.value for k, v in self.group_recall.items()},
            "group_precision": {k: v.value for k, v in self.group_precision.items()},
        }


def evaluate(corpus: Sequence[CorpusText], rules: RuleSet) -> Evaluation:
    outcomes = []
    for number, item in enumerate(corpus):
        decision = decide(_signal(item, number), item.text, rules)
        cues = tuple(
            f"{fired.rule}: {', '.join(fired.matched_words or fired.matched)}"
            for fired in decision.explanation
        )
        outcomes.append(
            Outcome(item, tier_of(decision), frozenset(g.value for g in decision.risk_groups), cues)
        )
    tier_recall, tier_precision = {}, {}
    for tier in TIERS:
        written = [o for o in outcomes if o.item.tier == tier]
        decided = [o for o in outcomes if o.tier == tier]
        tier_recall[tier] = Ratio(sum(o.tier == tier for o in written), len(written))
        tier_precision[tier] = Ratio(sum(o.item.tier == tier for o in decided), len(decided))
    group_recall, group_precision = {}, {}
    for group in (g.value for g in RiskGroup):
        written = [o for o in outcomes if group in o.item.groups]
        found = [o for o in outcomes if group in o.groups]
        group_recall[group] = Ratio(sum(group in o.groups for o in written), len(written))
        group_precision[group] = Ratio(sum(group in o.item.groups for o in found), len(found))
    return Evaluation(
        rules.version, tuple(outcomes), tier_recall, tier_precision, group_recall, group_precision
    )


def render(evaluation: Evaluation) -> str:
    """The report as Markdown: figures first, then every miss and false alarm with its cues."""
    e = evaluation
    lines = [
        "# Triage on the evaluation corpus",
        "",
        f"Rules `{e.rules_version}`, {len(e.outcomes)} texts "
        "(`services/triage/corpus/`). Written by `make eval-triage`.",
        "",
        f"- **acute + possible-acute recall: {e.risk_recall}** (risk texts decided at least "
        "possible-acute)",
        f"- acute recall: {e.acute_recall} (acute texts decided acute)",
        f"- non-risk texts raised to possible-acute or acute (false alarms): {e.false_alarms}",
        "",
        "| tier | texts | recall | precision |",
        "|---|---|---|---|",
    ]
    for tier in TIERS:
        lines.append(
            f"| {tier} | {e.tier_recall[tier].total} | {e.tier_recall[tier]} "
            f"| {e.tier_precision[tier]} |"
        )
    lines += ["", "| corpus file | texts | acute + possible recall | false alarms |"]
    lines.append("|---|---|---|---|")
    for source in e.sources:
        lines.append(
            f"| {source} | {len(e._of(source))} | {e.risk_recall_of(source)} "
            f"| {e.false_alarms_of(source)} |"
        )
    lines += ["", "| risk group | texts | recall | precision |", "|---|---|---|---|"]
    for group, recall in e.group_recall.items():
        lines.append(f"| {group} | {recall.total} | {recall} | {e.group_precision[group]} |")
    sections = (
        ("Risk texts decided too low", [o for o in e.outcomes if o.tier_missed]),
        (
            "False alarms (non-risk texts raised)",
            [o for o in e.outcomes if o.item.tier == "geen" and o.tier in RISK_TIERS],
        ),
        (
            "Possible-acute texts decided acute",
            [o for o in e.outcomes if o.item.tier == "mogelijk_acuut" and o.tier == "acuut"],
        ),
        ("Risk groups missed", [o for o in e.outcomes if o.item.groups - o.groups]),
        ("Risk groups found but not written", [o for o in e.outcomes if o.groups - o.item.groups]),
    )
    for title, outcomes in sections:
        lines += ["", f"## {title} ({len(outcomes)})", ""]
        for o in outcomes:
            lines.append(
                f"- `{o.item.id}` written {o.item.tier} {sorted(o.item.groups)}, decided "
                f"{o.tier} {sorted(o.groups)}: \u201c{o.item.text}\u201d"
            )
            lines.append(f"  - fired: {'; '.join(o.cues) or 'nothing'}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    from signaalpunt_contracts import Cue  # noqa: PLC0415 - only the command needs it

    from .rules import Rulebook  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Triage on the evaluation corpus")
    parser.add_argument("--corpus", type=Path, nargs="+", default=list(DEFAULT_CORPUS))
    parser.add_argument("--rules", type=Path, default=Path(__file__).parent / "rules")
    parser.add_argument("--municipality", default="GM0000", help="whose rules (default rules)")
    parser.add_argument("--write", type=Path, help="folder for triage-eval.md and .json")
    args = parser.parse_args(argv)
    book = Rulebook.load(args.rules, {c.value for c in Cue})
    evaluation = evaluate(load_corpus(args.corpus), book.for_municipality(args.municipality))
    report = render(evaluation)
    print(report)  # noqa: T201 - a command's output
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        (args.write / "triage-eval.md").write_text(report, encoding="utf-8")
        (args.write / "triage-eval.json").write_text(
            json.dumps(evaluation.summary(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
