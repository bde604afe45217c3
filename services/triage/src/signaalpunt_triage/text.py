"""Reading a reporter's own words for cues, in Dutch and English: lemmas, not word order.

Pure functions, no I/O. The text is decrypted only inside the triage service; only cue names
and the rules file's own words ("willen + dood") ever leave it, never the reporter's words.

How a cue is found:
1. The text is split into sentences (. ! ? ; and line ends) and clauses (also , : and
   "maar"/"but"); every word is lower-cased, stripped of diacritics and lemmatised with
   simplemma's Dutch and English dictionaries (wil, wilde, wou → willen; overleed → overlijden).
2. A phrase of the rules file is a *set* of words that must all occur within a window of words
   (default `DEFAULT_WINDOW`) or anywhere in one sentence (`within: sentence`), in any order:
   "het niet meer zien zitten" matches "ziet het niet meer zitten" and "dat ze het allemaal
   niet meer ziet zitten". A phrase word is a word (its lemma counts: "wil" finds "wilde"),
   `word*` (a prefix: "zelfmoord*" finds "zelfmoordgedachten"), `a|b` (either), `=word` (this
   exact form only, e.g. "=gepleegd" but not "plegen"), or `@list` (any word of a word list).
   Words of `MIN_FUZZY` letters or more also match with one typing error ("zelfmoort").
3. `except` phrases (in word order) blank out everyday expressions first ("dood graag").
4. A match is *negated* when a negating word ("geen", "niet", "nooit", "ontkent", "no",
   "denies", …) stands in the same clause up to `NEGATION_BEFORE` words before it or
   `NEGATION_AFTER` after it, with no conjunction between ("en", "want", …), unless the
   phrase itself holds a negation ("wil niet meer leven").
5. A match is *about another person* when its sentence also matches one of the rules' phrases
   for another person's death ("haar broer ... overleden", "zoon ... =gepleegd").
The cue's spec says what a negated or other-person match becomes: for the acute cues another,
lower cue ("risk_mentioned": a person still looks), never nothing; for ordinary cues a negated
match is dropped ("niet eenzaam").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import simplemma
from rapidfuzz.distance import Levenshtein

DEFAULT_WINDOW = 8
"""Words a phrase may spread over: "wil er vanavond echt een eind aan maken" is 7."""
MIN_FUZZY = 7
"""Words this long match with one typing error; shorter ones only exactly (dood ≠ door)."""
NEGATION_BEFORE = 4
NEGATION_AFTER = 2
LANGUAGES = ("nl", "en")

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
        "ontkennen",
        "nee",
        "no",
        "not",
        "never",
        "denies",
        "denied",
        "deny",
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
belongs to the visits. ("of"/"or" is no barrier: "geen doodswens of zelfmoordgedachten".)"""

_SENTENCE_END = frozenset({".", "!", "?", ";", "\n"})
_CLAUSE_END = frozenset({",", ":", "maar", "but", "echter", "however"})
_TOKENS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]*)*|\d+|[.!?;:,\n]")
_JOINED_PREFIXES = ("niet-", "non-")
"""Hyphenated words read as one word ("niet-aangeboren" is no negation); others as their parts
("self-harm" → self harm, "woon- of verblijfplaats" → woon of verblijfplaats)."""


def plain(word: str) -> str:
    """Lower case without diacritics: suïcidaal → suicidaal."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """The dictionary form (simplemma, Dutch first, then English), without diacritics."""
    return plain(simplemma.lemmatize(word, lang=LANGUAGES))


@lru_cache(maxsize=200_000)
def _known(word: str) -> bool:
    return bool(simplemma.is_known(word, lang=LANGUAGES))


@dataclass(frozen=True)
class Token:
    surface: str  # lower case, no diacritics
    lemma: str
    clause: int
    known: bool = True  # a dictionary word: never read as a misspelling of another one


def sentences(text: str) -> list[list[Token]]:
    """The text as sentences of words; punctuation only marks clauses and sentences."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")  # m'n → mn, doesn't → doesnt
    result: list[list[Token]] = [[]]
    clause = 0
    for raw in _TOKENS.findall(lowered):
        if raw in _SENTENCE_END:
            if result[-1]:
                result.append([])
            clause += 1
            continue
        if raw in _CLAUSE_END:
            clause += 1
            if raw in {",", ":"}:
                continue
        if raw.startswith(_JOINED_PREFIXES):
            parts = [raw.replace("-", "")]
        else:
            parts = [part for part in raw.split("-") if part]
        for part in parts:
            result[-1].append(Token(plain(part), lemma(part), clause, _known(part)))
    return [s for s in result if s]


# -- phrases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alternative:
    """One way a phrase word can be written."""

    text: str  # as in the rules file (for the explanation), plain
    forms: frozenset[str]  # the word and its lemma
    prefix: bool = False
    exact: bool = False

    def matches(self, token: Token) -> bool:
        if self.prefix:
            if token.surface.startswith(self.text) or token.lemma.startswith(self.text):
                return True
            head = token.surface[: len(self.text)]
            return _misspelt(token, head, self.text)
        if self.exact:
            return token.surface == self.text
        if token.surface in self.forms or token.lemma in self.forms:
            return True
        return _misspelt(token, token.surface, self.text)


def _misspelt(token: Token, written: str, meant: str) -> bool:
    """One typing error in a long word that is not itself a word ("zelfmoort", "suiside";
    not "homeless" for "hopeless" nor "verleden" for "overleden")."""
    return (
        len(meant) >= MIN_FUZZY
        and not token.known
        and abs(len(written) - len(meant)) <= 1
        and Levenshtein.distance(written, meant, score_cutoff=1) <= 1
    )


@dataclass(frozen=True)
class SentenceForms:
    """Every word and lemma of a sentence, to rule phrases out before looking closer."""

    forms: frozenset[str]
    unknown: tuple[Token, ...]
    """the words that are not in the dictionary: only these can be a word misspelt"""
    _misspelt: dict[Alternative, bool] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )
    """per alternative, whether an unknown word of the sentence matches it: word lists recur
    in many phrases, so each alternative is tried once per sentence"""

    @classmethod
    def of(cls, sentence: Sequence[Token]) -> SentenceForms:
        return cls(
            forms=frozenset(f for t in sentence for f in (t.surface, t.lemma)),
            unknown=tuple(t for t in sentence if not t.known),
        )

    @cached_property
    def beginnings(self) -> frozenset[str]:
        """Every beginning of every form ("zelf", "zelfm", …): a prefix word is there when one
        of its texts is among them, one set lookup instead of a test per form."""
        return frozenset(f[:k] for f in self.forms for k in range(1, len(f) + 1))

    def misspelt(self, alternative: Alternative) -> bool:
        """Whether a word the dictionary does not know matches the alternative."""
        found = self._misspelt.get(alternative)
        if found is None:
            found = self._misspelt[alternative] = any(alternative.matches(t) for t in self.unknown)
        return found


@dataclass(frozen=True)
class PhraseWord:
    """One word of a phrase: its alternatives, indexed so a token is checked in a few lookups."""

    alternatives: tuple[Alternative, ...]
    _forms: Mapping[str, str] = field(default_factory=dict, repr=False)
    _exact: Mapping[str, str] = field(default_factory=dict, repr=False)
    _prefixes: tuple[Alternative, ...] = field(default=(), repr=False)
    _prefix_texts: tuple[str, ...] = field(default=(), repr=False)
    _fuzzy: tuple[Alternative, ...] = field(default=(), repr=False)
    anchor: frozenset[str] | None = field(default=None, repr=False)
    """The forms one of which a sentence must hold for this word to be there, when the word
    is only ever found by its forms (no prefix, no misspelling); None otherwise."""

    @classmethod
    def of(cls, alternatives: Sequence[Alternative]) -> PhraseWord:
        forms: dict[str, str] = {}
        exact: dict[str, str] = {}
        for a in alternatives:
            if a.exact:
                exact.setdefault(a.text, a.text)
            elif not a.prefix:
                for form in sorted(a.forms):
                    forms.setdefault(form, a.text)
        prefixes = tuple(a for a in alternatives if a.prefix)
        fuzzy = tuple(a for a in alternatives if not a.exact and len(a.text) >= MIN_FUZZY)
        return cls(
            alternatives=tuple(alternatives),
            _forms=forms,
            _exact=exact,
            _prefixes=prefixes,
            _prefix_texts=tuple(a.text for a in prefixes),
            _fuzzy=fuzzy,
            anchor=None if prefixes or fuzzy else frozenset(forms) | frozenset(exact),
        )

    def may_match(self, sentence: SentenceForms) -> bool:
        """A quick no: none of the sentence's words can be this word (most phrases stop here)."""
        if not (
            self._forms.keys().isdisjoint(sentence.forms)
            and self._exact.keys().isdisjoint(sentence.forms)
        ):
            return True
        # a misspelling only in a word the dictionary does not know, as `match` looks for it:
        # "any word unknown" (a name, a street) sent every phrase with a long word on to the
        # full scan (issue 22: reading the text was a third of triage's CPU per signal)
        if sentence.unknown and any(sentence.misspelt(a) for a in self._fuzzy):
            return True
        return bool(self._prefix_texts) and not sentence.beginnings.isdisjoint(self._prefix_texts)

    def match(self, token: Token) -> str | None:
        """How the rules write the word this token matches ("zelfmoord*"), or None."""
        found = (
            self._exact.get(token.surface)
            or self._forms.get(token.surface)
            or self._forms.get(token.lemma)
        )
        if found is not None:
            return found
        for a in self._prefixes:
            if token.surface.startswith(a.text) or token.lemma.startswith(a.text):
                return a.text + "*"
        if not token.known:  # a typing error is never a dictionary word itself
            for a in self._fuzzy:
                if a.matches(token):
                    return a.text + ("*" if a.prefix else "")
        return None


@dataclass(frozen=True)
class Phrase:
    """Words that must all occur within `window` words of one sentence (None: the sentence)."""

    source: str
    words: tuple[PhraseWord, ...]
    window: int | None = DEFAULT_WINDOW
    anchors: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    """Per word found by its forms alone, those forms, fewest first: a sentence without one of
    them cannot hold the phrase, which one set lookup says (most phrases stop there; reading
    the text was a third of triage's CPU per signal, issue 22)."""

    _loose: tuple[PhraseWord, ...] = field(init=False, repr=False, compare=False)
    """the other words (a prefix or a misspelling may find them), checked one by one"""

    def __post_init__(self) -> None:
        anchors = sorted((w.anchor for w in self.words if w.anchor is not None), key=len)
        object.__setattr__(self, "anchors", tuple(anchors))
        object.__setattr__(self, "_loose", tuple(w for w in self.words if w.anchor is None))

    def absent_from(self, forms: SentenceForms) -> bool:
        """A quick yes: this phrase cannot occur in the sentence. (Loops rather than any() and
        all(): this runs for every phrase of every sentence.)"""
        present = forms.forms
        for anchor in self.anchors:
            if anchor.isdisjoint(present):
                return True
        for word in self._loose:  # noqa: SIM110 - the loop is the point (see above)
            if not word.may_match(forms):
                return True
        return False

    @property
    def negative(self) -> bool:
        return any(a.text in NEGATIONS for w in self.words for a in w.alternatives)


class PhraseError(ValueError):
    """A phrase that cannot be read (an unknown word list, an empty word)."""


def compile_phrase(
    source: str, lists: Mapping[str, Sequence[str]], window: int | None = DEFAULT_WINDOW
) -> Phrase:
    words = []
    for part in source.split():
        alternatives: list[Alternative] = []
        for option in part.split("|"):
            if option.startswith("@"):
                if option[1:] not in lists:
                    raise PhraseError(f"unknown word list {option!r} in {source!r}")
                alternatives.extend(_alternative(w) for w in lists[option[1:]])
            else:
                alternatives.append(_alternative(option))
        words.append(PhraseWord.of(alternatives))
    if not words:
        raise PhraseError("an empty phrase")
    return Phrase(source=source, words=tuple(words), window=window)


def _alternative(option: str) -> Alternative:
    exact = option.startswith("=")
    prefix = option.endswith("*")
    text = plain(option.strip("=*"))
    if not text or not re.fullmatch(r"[^\W\d_]+|\d+", text):
        raise PhraseError(f"not a word: {option!r}")
    return Alternative(text=text, forms=frozenset({text, lemma(text)}), prefix=prefix, exact=exact)


@dataclass(frozen=True)
class PhraseMatch:
    positions: tuple[int, ...]  # token indices in the sentence, one per phrase word
    words: tuple[str, ...]  # the rules file's words that matched

    @property
    def span(self) -> int:
        return max(self.positions) - min(self.positions)


def find_phrase(
    phrase: Phrase,
    sentence: Sequence[Token],
    blanked: frozenset[int],
    forms: SentenceForms | None = None,
) -> PhraseMatch | None:
    """The tightest match of the phrase in the sentence, or None."""
    forms = forms or SentenceForms.of(sentence)
    if phrase.absent_from(forms):
        return None
    # per phrase word: (position, how the rules file writes the word that matched)
    candidates: list[list[tuple[int, str]]] = []
    for word in phrase.words:
        hits = []
        for i, token in enumerate(sentence):
            written = None if i in blanked else word.match(token)
            if written is not None:
                hits.append((i, written))
        if not hits:
            return None
        candidates.append(hits)
    limit = phrase.window if phrase.window is not None else len(sentence)
    best: PhraseMatch | None = None
    # phrases and sentences are short: trying each start position is clear and quick enough
    for start in sorted({i for hits in candidates for i, _ in hits}):
        chosen: dict[int, tuple[int, str]] = {}  # phrase word → its pick
        used: set[int] = set()
        for n in sorted(range(len(candidates)), key=lambda k: len(candidates[k])):
            pick = next(
                (h for h in candidates[n] if start <= h[0] < start + limit and h[0] not in used),
                None,
            )
            if pick is None:
                break
            chosen[n] = pick
            used.add(pick[0])
        else:
            if best is None or max(used) - min(used) < best.span:
                best = PhraseMatch(
                    positions=tuple(sorted(used)),
                    words=tuple(chosen[n][1] for n in range(len(candidates))),
                )
    return best


def _negated(sentence: Sequence[Token], match: PhraseMatch) -> bool:
    first, last = min(match.positions), max(match.positions)
    clauses = {sentence[i].clause for i in match.positions}
    for direction, reach in ((-1, NEGATION_BEFORE), (1, NEGATION_AFTER)):
        i = first - 1 if direction < 0 else last + 1
        steps = 0
        while 0 <= i < len(sentence) and steps < reach:
            token = sentence[i]
            if token.clause not in clauses or token.surface in BARRIERS:
                break
            if token.surface in NEGATIONS or token.lemma in NEGATIONS:
                return True
            i += direction
            steps += 1
    inside = set(range(first, last + 1)) - set(match.positions)
    return any(sentence[i].surface in NEGATIONS or sentence[i].lemma in NEGATIONS for i in inside)


# -- cues ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CueReader:
    """The phrases of one text cue, and what a negated or other-person match becomes."""

    cue: str
    phrases: tuple[Phrase, ...]
    exceptions: tuple[Phrase, ...] = ()
    when_negated: str | None = None  # None: a negated match is dropped
    when_about_another: str | None = None  # None: not checked


@dataclass(frozen=True)
class Lexicon:
    """Every text cue of a rule set, and the phrases that say a death was someone else's."""

    cues: tuple[CueReader, ...]
    about_another: tuple[Phrase, ...] = ()
    names: frozenset[str] = field(default_factory=frozenset)

    def read(self, text: str) -> dict[str, tuple[str, ...]]:
        """cue → the rules' words that matched ("willen + dood", "zelfmoord* (negated)")."""
        found: dict[str, list[str]] = {}
        seen: set[tuple[str, frozenset[tuple[int, int]]]] = set()
        for number, sentence in enumerate(sentences(text)):
            forms = SentenceForms.of(sentence)
            other = any(find_phrase(p, sentence, frozenset(), forms) for p in self.about_another)
            for reader in self.cues:
                blanked = _blank(sentence, reader.exceptions, forms)
                for phrase in reader.phrases:
                    match = find_phrase(phrase, sentence, blanked, forms)
                    if match is None:
                        continue
                    cue, note = reader.cue, ""
                    if not phrase.negative and _negated(sentence, match):
                        if reader.when_negated is None:
                            continue
                        cue, note = reader.when_negated, " (negated)"
                    elif other and reader.when_about_another is not None:
                        cue, note = reader.when_about_another, " (about another person)"
                    # two phrases finding the same words ("leven geen zin", "geen zin leven")
                    # are one finding
                    key = (cue, frozenset((number, p) for p in match.positions))
                    if key not in seen:
                        seen.add(key)
                        found.setdefault(cue, []).append(" + ".join(match.words) + note)
        return {cue: tuple(words) for cue, words in found.items()}


def _blank(
    sentence: Sequence[Token], exceptions: Iterable[Phrase], forms: SentenceForms
) -> frozenset[int]:
    """Positions covered by an everyday expression (its words in order, side by side)."""
    blanked: set[int] = set()
    for phrase in exceptions:
        if phrase.absent_from(forms):
            continue
        n = len(phrase.words)
        for start in range(len(sentence) - n + 1):
            if all(w.match(sentence[start + k]) for k, w in enumerate(phrase.words)):
                blanked.update(range(start, start + n))
    return frozenset(blanked)


# -- an age in the words ------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A word list written as words."""
    return frozenset(text.split())


_PERSONS = _words(
    "mevrouw meneer mevr mr dhr heer dame man vrouw jongen meisje jongeman jongere tiener "
    "kind kindje dochter zoon student studente moeder vader opa oma buurman buurvrouw "
    "weduwe weduwnaar mantelzorger mantelzorgster patient patiente client boy girl woman "
    "son daughter mother father neighbour neighbor grandmother grandfather"
)
_YEARS = frozenset({"jaar", "jr", "jarig", "jarige", "jaren", "years", "year", "yrs", "yo"})
_NOT_AN_AGE_BEFORE = _words(
    "al sinds ruim bijna na voor over meer dan ongeveer zon binnen afgelopen laatste elke "
    "om ieder iedere nog for since about almost after every last nr nummer huisnummer"
)
_NOT_AN_AGE_AFTER = _words(
    "geleden ago lang dagen weken maanden uur uren keer minuten euro kilo kg days weeks "
    "months hours times minutes procent"
)
_CLAUSE_AFTER = frozenset({"", "en", "and", "maar", "but"})


def age_in_text(text: str) -> int | None:
    """The first age the words give ("dochter van 12", "Mevrouw (82)", "91 jaar", "Student,
    19", "opa is 90"), or None. Durations are not ages ("al 10 jaar", "twee jaar geleden",
    "40 jaar samenwoonde" after "met wie hij")."""
    for sentence in sentences(text):
        words = [t.surface for t in sentence]
        for i, word in enumerate(words):
            if not word.isdigit() or not 0 < int(word) <= 110:
                continue
            before = words[i - 1] if i > 0 else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before in _NOT_AN_AGE_BEFORE or after in _NOT_AN_AGE_AFTER:
                continue
            is_age = (
                after in _YEARS
                or before in _PERSONS
                or (before == "van" and i > 1 and words[i - 2] in _PERSONS)
                or (before in {"is", "am", "wordt", "werd", "ben"} and after in _CLAUSE_AFTER)
            )
            if is_age:
                return int(word)
    return None
