"""Reading a text rules most phrases out before looking closer (`Phrase.absent_from`: a word
found by its forms alone must be among the sentence's forms; a prefix word among its words'
beginnings; a misspelling only in a word the dictionary does not know). That shortcut must never
change what is found: here every text of the evaluation corpus, and each again with typing
errors (which is where prefixes and misspellings decide), is read with the shortcut and with
every phrase looked at closely, and the findings must be the same."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from signaalpunt_contracts import Cue
from signaalpunt_triage.rules import Rulebook
from signaalpunt_triage.text import Lexicon, Phrase

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "services" / "triage" / "src" / "signaalpunt_triage" / "rules"
CORPUS = REPO / "services" / "triage" / "corpus" / "signals.yaml"


def _texts() -> list[str]:
    texts = [s["text"] for s in yaml.safe_load(CORPUS.read_text())["signals"]]
    rng = random.Random(22)
    with_typos = []
    for text in texts:
        words = text.split()
        for i, word in enumerate(words):
            if len(word) >= 6 and rng.random() < 0.3:
                k = rng.randrange(1, len(word) - 1)
                words[i] = rng.choice(
                    [word[:k] + word[k + 1 :], word[:k] + word[k + 1] + word[k] + word[k + 2 :]]
                )
        with_typos.append(" ".join(words))
    return texts + with_typos


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Rulebook.load(RULES, {c.value for c in Cue}).default.lexicon


def test_the_shortcut_finds_what_a_close_look_at_every_phrase_finds(
    lexicon: Lexicon, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _texts()
    quick = [lexicon.read(t) for t in texts]
    with monkeypatch.context() as m:
        m.setattr(Phrase, "absent_from", lambda self, forms: False)
        close = [lexicon.read(t) for t in texts]
    assert quick == close
    # the texts do reach the cases the shortcut decides: most texts find something, and the
    # typing errors change what is found in some (else this compares nothing of interest)
    assert sum(1 for found in close if found) > len(texts) // 2
    assert close[: len(texts) // 2] != close[len(texts) // 2 :]
