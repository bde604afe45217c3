"""Reading a reporter's own words for cues, in Dutch and English, with negation.

Pure functions, no I/O. The text is decrypted only inside the triage service and only the names
of the cues found ever leave it (in the decision's explanation, as `text:<cue>`).

How a phrase is found:
1. The text is normalised: lower case, diacritics removed (suïcide → suicide, ''s → s), every run
   of non-letters a single space, but clause boundaries (. ! ? ; : , newline and the words
   "maar"/"but") kept as a separator, so a negation never reaches across them.
2. Each cue has regular expressions over that normalised text; word boundaries are part of the
   pattern, so "dood" does not match "doodgewoon" unless a pattern says so.
3. A match is negated when a negating word ("geen", "niet", "nooit", "no", "not", "never",
   "denies", …) stands at most `NEGATION_WINDOW` words before it in the same clause, with no
   conjunction ("en", "want", "omdat", …) in between, and the match itself does not contain a
   negation (in "wil niet meer leven" the "niet" is the cue itself).
   Patterns may also list `except` phrases: everyday expressions that look like a cue but are not
   ("dood graag", "schrok zich dood").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NEGATION_WINDOW = 4
"""Words between a negation and a cue; "heeft geen enkele doodswens" is 1, most are 0–3."""

NEGATIONS = frozenset(
    {
        "geen",
        "niet",
        "nooit",
        "niets",
        "nergens",
        "zonder",
        "ontkent",
        "ontkende",
        "no",
        "not",
        "never",
        "denies",
        "denied",
        "without",
        "nor",
        "isnt",
        "doesnt",
        "dont",
        "didnt",
        "wasnt",
        "hasnt",
    }
)

BARRIERS = frozenset(
    {"en", "and", "want", "omdat", "dus", "terwijl", "sinds", "because", "while", "since", "so"}
)
"""Conjunctions that end a negation's reach: in "krijgt nooit bezoek en wil dood" the "nooit"
belongs to the visits, not to the wish to die. ("of"/"or" is no barrier: "geen doodswens of
zelfmoordgedachten" negates both.)"""

_CLAUSE = "|"
_CLAUSE_SPLIT = re.compile(r"[.!?;:,\n\r]+|\b(?:maar|but|echter|however)\b")
_NON_LETTERS = re.compile(r"[^a-z0-9|]+")


def normalise(text: str) -> str:
    """Lower case, no diacritics, words separated by one space, clauses by ' | '."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("'", "").replace("’", "")  # m'n → mn, doesn't → doesnt
    plain = _CLAUSE_SPLIT.sub(f" {_CLAUSE} ", plain)
    words = _NON_LETTERS.sub(" ", plain).split()
    return " ".join(words)


@dataclass(frozen=True)
class CuePattern:
    """The phrases of one text cue, compiled."""

    cue: str
    patterns: tuple[re.Pattern[str], ...]
    exceptions: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def compile(
        cls, cue: str, patterns: Sequence[str], exceptions: Sequence[str] = ()
    ) -> CuePattern:
        return cls(
            cue=cue,
            patterns=tuple(re.compile(rf"\b(?:{p})\b") for p in patterns),
            exceptions=tuple(re.compile(rf"\b(?:{p})\b") for p in exceptions),
        )


def _negated(normalised: str, start: int, matched: str) -> bool:
    if NEGATIONS.intersection(matched.split()):
        return False  # the negation is part of the cue ("wil niet meer leven")
    before = normalised[:start].split()
    window: list[str] = []
    for word in reversed(before):
        if word == _CLAUSE or word in BARRIERS or len(window) > NEGATION_WINDOW:
            break
        window.append(word)
    return bool(NEGATIONS.intersection(window))


def find_cues(text: str, lexicon: Iterable[CuePattern]) -> tuple[str, ...]:
    """The names of the cues whose phrases occur in `text`, not negated, in lexicon order."""
    normalised = normalise(text)
    found: list[str] = []
    for entry in lexicon:
        if _matches(normalised, entry):
            found.append(entry.cue)
    return tuple(found)


def _matches(normalised: str, entry: CuePattern) -> bool:
    masked = normalised
    for exception in entry.exceptions:
        # blank out everyday expressions first, keeping positions for the negation window
        masked = exception.sub(lambda m: "x" * len(m.group(0)), masked)
    for pattern in entry.patterns:
        for match in pattern.finditer(masked):
            if not _negated(masked, match.start(), match.group(0)):
                return True
    return False


def compile_lexicon(spec: Mapping[str, Mapping[str, Sequence[str]]]) -> tuple[CuePattern, ...]:
    """{cue: {"patterns": [...], "except": [...]}} → compiled patterns (raises re.error)."""
    return tuple(
        CuePattern.compile(cue, entry.get("patterns", ()), entry.get("except", ()))
        for cue, entry in spec.items()
    )
