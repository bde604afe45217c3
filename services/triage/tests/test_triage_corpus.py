"""The gate on the evaluation corpus (services/triage/corpus/, see its README).

Fails when any acute or possible-acute text is decided lower than possible-acute, when more
than 10% of the texts without risk are raised, or when a risk group's recall drops below what
the last report recorded (bench/results/triage-eval.json, written by `make eval-triage`).
"""

from __future__ import annotations

import json
from pathlib import Path

from signaalpunt_contracts import Cue
from signaalpunt_triage.evaluation import evaluate, load_corpus, render
from signaalpunt_triage.rules import Rulebook

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "services" / "triage" / "src" / "signaalpunt_triage" / "rules"
RECORDED = REPO / "bench" / "results" / "triage-eval.json"
EVALUATION = evaluate(load_corpus(), Rulebook.load(RULES, {c.value for c in Cue}).default)


def test_the_corpus_is_large_and_labelled() -> None:
    tiers = {o.item.tier for o in EVALUATION.outcomes}
    kinds = {o.item.kind for o in EVALUATION.outcomes}
    assert len(EVALUATION.outcomes) >= 250
    assert tiers == {"acuut", "mogelijk_acuut", "geen"}
    assert {"desk_note", "web_form", "web_form_clumsy", "sms", "english"} <= kinds
    assert all(r.total >= 5 for r in EVALUATION.group_recall.values())


def test_no_acute_or_possible_acute_text_is_missed() -> None:
    missed = [o for o in EVALUATION.outcomes if o.item.tier != "geen" and o.tier == "geen"]
    assert not missed, render(EVALUATION)
    assert EVALUATION.risk_recall.value == 1.0


def test_at_most_a_tenth_of_calm_texts_raise_an_alarm() -> None:
    assert EVALUATION.false_alarms.value <= 0.10, render(EVALUATION)


def test_no_risk_group_recall_below_the_last_report() -> None:
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))["group_recall"]
    worse = {
        group: (ratio.value, recorded[group])
        for group, ratio in EVALUATION.group_recall.items()
        if ratio.value + 1e-9 < recorded.get(group, 0.0)
    }
    assert not worse, f"recall now vs recorded: {worse}"
