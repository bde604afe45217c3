"""Triage rules: versioned YAML per municipality, checked at load, evaluated without I/O.

A rule set is the default file plus, per municipality, an override file that may replace or add
rules (by id), disable rules, extend the text lexicon and change deadlines. Loading checks
everything (fields, cue names, regular expressions, deadlines) and names file and line on error.

Evaluation (`RuleSet.decide`): every rule whose conditions all hold fires. The route is that of
the fired rule with the highest precedence (a route's default precedence: acuut 100,
team_eenzaamheid 30, team_welzijn 20, buiten_bereik 10; a rule may set its own); the priority is
the highest priority any fired rule sets (default normal); risk groups and advice are the union;
a person must review the decision when any fired rule says so or when no rule chose a route.
The explanation lists every fired rule with what it matched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from signaalpunt_contracts import Advice, FiredRule, Priority, RiskGroup, Route

from .deadlines import DeadlinePolicy, DeadlineRule
from .text import DEFAULT_WINDOW, CueReader, Lexicon, Phrase, PhraseError, compile_phrase

DEFAULT_PRECEDENCE: dict[Route, int] = {
    Route.ACUUT: 100,
    Route.MOGELIJK_ACUUT: 90,
    Route.JEUGDTEAM: 50,
    Route.TEAM_EENZAAMHEID: 30,
    Route.TEAM_WELZIJN: 20,
    Route.BUITEN_BEREIK: 10,
}
PRIORITY_RANK: dict[Priority, int] = {
    Priority.LOW: 0,
    Priority.NORMAL: 1,
    Priority.HIGH: 2,
    Priority.ACUTE: 3,
}


class RulesError(ValueError):
    """A rules file that cannot be used; the message names file and line."""


# -- what a rule looks at --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What triage knows of a signal: no names, addresses or words, only cues and kinds."""

    checkbox_cues: frozenset[str]
    text_cues: frozenset[str]
    age: int | None
    age_band: str | None
    reported_urgency: str
    reporter_kind: str
    channel: str
    text_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each text cue, the rules' words that matched (for the explanation)."""
    age_from_text: bool = False  # the age was read in the words ("dochter van 12")

    def has_cue(self, cue: str) -> str | None:
        """How the cue was observed: its name (a checkbox) or text:<name> (the free text)."""
        if cue in self.checkbox_cues:
            return cue
        if cue in self.text_cues:
            return f"text:{cue}"
        return None

    def age_at_least(self, years: int) -> bool:
        if self.age is not None:
            return self.age >= years
        lowest = {"under_15": 0, "15_24": 15, "25_54": 25, "55_74": 55, "75_plus": 75}
        return self.age_band is not None and lowest[self.age_band] >= years

    def age_below(self, years: int) -> bool:
        if self.age is not None:
            return self.age < years
        highest = {"under_15": 14, "15_24": 24, "25_54": 54, "55_74": 74, "75_plus": 200}
        return self.age_band is not None and highest[self.age_band] < years


# -- the YAML model --------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    cues_any: tuple[str, ...] = ()
    cues_all: tuple[str, ...] = ()
    age_at_least: int | None = Field(default=None, ge=0, le=130)
    age_below: int | None = Field(default=None, ge=0, le=130)
    reported_urgency_in: tuple[str, ...] = ()
    reporter_kind_in: tuple[str, ...] = ()
    channel_in: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a rule needs at least one condition under 'when'")
        return self


class Then(_Strict):
    route: Route | None = None
    precedence: int | None = Field(default=None, ge=0, le=1000)
    priority: Priority | None = None
    risk_groups: tuple[RiskGroup, ...] = ()
    needs_review: bool = False
    advice: tuple[Advice, ...] = ()


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")
    description: str = Field(min_length=3, max_length=300)
    when: When
    then: Then

    def matches(self, facts: Facts) -> tuple[str, ...] | None:  # noqa: PLR0912 - one per condition
        """What this rule matched, or None when one of its conditions does not hold."""
        matched: list[str] = []
        w = self.when
        if w.cues_any:
            hits = [h for c in w.cues_any if (h := facts.has_cue(c))]
            if not hits:
                return None
            matched.extend(hits)
        for cue in w.cues_all:
            hit = facts.has_cue(cue)
            if hit is None:
                return None
            if hit not in matched:
                matched.append(hit)
        if w.age_at_least is not None:
            if not facts.age_at_least(w.age_at_least):
                return None
            matched.append(f"age>={w.age_at_least}" + (" (text)" if facts.age_from_text else ""))
        if w.age_below is not None:
            if not facts.age_below(w.age_below):
                return None
            matched.append(f"age<{w.age_below}" + (" (text)" if facts.age_from_text else ""))
        if w.reported_urgency_in:
            if facts.reported_urgency not in w.reported_urgency_in:
                return None
            matched.append(f"reported_urgency={facts.reported_urgency}")
        if w.reporter_kind_in:
            if facts.reporter_kind not in w.reporter_kind_in:
                return None
            matched.append(f"reporter={facts.reporter_kind}")
        if w.channel_in:
            if facts.channel not in w.channel_in:
                return None
            matched.append(f"channel={facts.channel}")
        return tuple(matched)


class DeadlineSpec(_Strict):
    hours: int | None = Field(default=None, ge=1, le=72)
    working_days: int | None = Field(default=None, ge=1, le=30)

    @model_validator(mode="after")
    def _one(self) -> DeadlineSpec:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("give either hours or working_days")
        return self


Tier = Literal["acute", "possible_acute", "review"]


class PhraseSpec(_Strict):
    """A phrase with its own reach: `within: sentence` or a number of words."""

    words: str = Field(min_length=1)
    within: int | Literal["sentence"] = Field(default=DEFAULT_WINDOW)


class TextCueSpec(_Strict):
    """One text cue: its phrases, everyday expressions to skip, and what a negated match or a
    match about another person's death becomes. A cue with a `tier` always puts the signal
    in front of a person (acute, possible acute, or review on an ordinary route)."""

    tier: Tier | None = None
    phrases: tuple[str | PhraseSpec, ...] = ()
    except_: tuple[str, ...] = Field(default=(), alias="except")
    when_negated: str | None = None
    when_about_another: str | None = None


class RulesFile(_Strict):
    """One YAML file: the default set (`default.yaml`) or a municipality's overrides."""

    version: str = Field(min_length=1, max_length=40)
    municipality: str | None = Field(default=None, pattern=r"^GM\d{4}$")
    timezone: str | None = None
    working_day_ends: time | None = None
    closed_days: tuple[str, ...] = ()
    max_contact_attempts: int | None = Field(default=None, ge=1, le=20)
    deadlines: dict[Priority, DeadlineSpec] = Field(default_factory=dict)
    possible_acute_review: DeadlineSpec | None = None
    word_lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    about_another_person: tuple[str | PhraseSpec, ...] = ()
    text_cues: dict[str, TextCueSpec] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    disable: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()


# -- the decision ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """The rules' decision for one signal (without its deadline, which needs a clock)."""

    route: Route
    priority: Priority
    risk_groups: tuple[RiskGroup, ...]
    needs_review: bool
    advice: tuple[Advice, ...]
    explanation: tuple[FiredRule, ...]


@dataclass(frozen=True)
class RuleSet:
    """The rules that apply in one municipality, ready to evaluate."""

    version: str
    rules: tuple[Rule, ...]
    lexicon: Lexicon
    deadlines: DeadlinePolicy
    max_contact_attempts: int
    possible_acute_review_hours: int = 4
    fallback_route: Route = Route.TEAM_WELZIJN
    text_cue_names: frozenset[str] = field(default_factory=frozenset)
    tiered_cues: frozenset[str] = field(default_factory=frozenset)
    """Text cues that always put a signal in front of a person (they mention dying, suicide,
    self-harm or danger): whatever rules a municipality adds, such a signal is reviewed."""

    def read_text(self, text: str | None) -> dict[str, tuple[str, ...]]:
        return self.lexicon.read(text) if text else {}

    def decide(self, facts: Facts) -> Proposal:
        fired: list[tuple[Rule, tuple[str, ...]]] = []
        for rule in self.rules:
            matched = rule.matches(facts)
            if matched is not None:
                fired.append((rule, matched))
        route: Route | None = None
        best = -1
        priority = Priority.NORMAL
        priority_set = False
        groups: list[RiskGroup] = []
        advice: list[Advice] = []
        review = False
        for rule, _ in fired:
            then = rule.then
            if then.route is not None:
                precedence = (
                    then.precedence
                    if then.precedence is not None
                    else DEFAULT_PRECEDENCE[then.route]
                )
                if precedence > best:
                    route, best = then.route, precedence
            if then.priority is not None and (
                not priority_set or PRIORITY_RANK[then.priority] > PRIORITY_RANK[priority]
            ):
                priority, priority_set = then.priority, True
            groups.extend(g for g in then.risk_groups if g not in groups)
            advice.extend(a for a in then.advice if a not in advice)
            review = review or then.needs_review
        if route is None:
            route, review = self.fallback_route, True  # nothing chose: a person decides
        if route is Route.ACUUT:
            priority = Priority.ACUTE  # acute is always top priority, whatever else fired
            review = True  # and never closed by a machine
        if route is Route.MOGELIJK_ACUUT:
            review = True  # a coordinator must look within hours
        if self.tiered_cues & facts.text_cues:
            review = True  # dying, suicide, self-harm or danger named: a person sees it first
        return Proposal(
            route=route,
            priority=priority,
            risk_groups=tuple(groups),
            needs_review=review,
            advice=tuple(advice),
            explanation=tuple(
                FiredRule(
                    rule=rule.id,
                    description=rule.description,
                    matched=matched,
                    matched_words=tuple(
                        f"{item[5:]}: {words}"
                        for item in matched
                        if item.startswith("text:")
                        for words in facts.text_words.get(item[5:], ())
                    ),
                )
                for rule, matched in fired
            ),
        )


# -- loading ---------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping under the key `__line__`, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(raw: Any, loc: Sequence[int | str]) -> int:
    """The line of the deepest mapping on the path `loc` (pydantic's error location)."""
    line = int(raw.get("__line__", 1)) if isinstance(raw, dict) else 1
    node = raw
    for part in loc:
        if isinstance(node, list):
            if not (isinstance(part, int) and part < len(node)):
                break
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and part == "except_" and "except" in node:
            node = node["except"]
        else:
            break
        if isinstance(node, dict) and "__line__" in node:
            line = int(node["__line__"])
    return line


def load_file(path: Path) -> RulesFile:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise RulesError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"{path}:1: a rules file is a mapping with version, rules, …")
    try:
        parsed = RulesFile.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = first["loc"]
        where = ".".join(str(p) for p in loc)
        raise RulesError(
            f"{path}:{_line_of(raw, loc)}: {where}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from exc
    ids = [r.id for r in parsed.rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RulesError(f"{path}:{_line_of(raw, ('rules',))}: rule ids used twice: {twice}")
    return parsed


def _check_cues(path: Path, rules: Sequence[Rule], known: set[str]) -> None:
    for rule in rules:
        unknown = sorted(set(rule.when.cues_any + rule.when.cues_all) - known)
        if unknown:
            raise RulesError(
                f"{path}: rule {rule.id!r} uses unknown cues {unknown}; known are the checkbox "
                "cues and the text cues of the rules files"
            )


@dataclass(frozen=True)
class Rulebook:
    """Every municipality's rule set, from a folder with default.yaml and GMxxxx.yaml files."""

    default: RuleSet
    per_municipality: Mapping[str, RuleSet]

    def for_municipality(self, municipality: str) -> RuleSet:
        return self.per_municipality.get(municipality, self.default)

    @classmethod
    def load(cls, folder: Path, checkbox_cues: set[str]) -> Rulebook:
        default_path = folder / "default.yaml"
        if not default_path.exists():
            raise RulesError(f"{default_path}: missing (the default rules every municipality uses)")
        base = load_file(default_path)
        if base.municipality is not None:
            raise RulesError(f"{default_path}:1: the default file names no municipality")
        default = _build(default_path, base, None, checkbox_cues)
        overrides: dict[str, RuleSet] = {}
        for path in sorted(folder.glob("GM*.yaml")):
            own = load_file(path)
            if own.municipality != path.stem:
                raise RulesError(f"{path}:1: municipality must be {path.stem} (the file's name)")
            overrides[path.stem] = _build(path, base, own, checkbox_cues)
        return cls(default=default, per_municipality=overrides)


def _build(path: Path, base: RulesFile, own: RulesFile | None, checkbox: set[str]) -> RuleSet:
    text_cues = dict(base.text_cues)
    word_lists = {name: list(words) for name, words in base.word_lists.items()}
    about_another = list(base.about_another_person)
    rules = list(base.rules)
    deadlines = dict(base.deadlines)
    review = base.possible_acute_review
    version = f"default@{base.version}"
    timezone = base.timezone or "Europe/Amsterdam"
    day_ends = base.working_day_ends or time(17, 0)
    closed = list(base.closed_days)
    attempts = base.max_contact_attempts or 3
    if own is not None:
        version += f"+{own.municipality}@{own.version}"
        _check_safe(path, base, own)
        for name, words in own.word_lists.items():
            word_lists.setdefault(name, []).extend(words)  # a list only grows
        about_another.extend(own.about_another_person)
        for cue, extra in own.text_cues.items():
            old = text_cues.get(cue)
            text_cues[cue] = (
                extra
                if old is None
                else old.model_copy(  # extend the default phrases of a cue
                    update={
                        "phrases": old.phrases + extra.phrases,
                        "except_": old.except_ + extra.except_,
                    }
                )
            )
        unknown = sorted(set(own.disable) - {r.id for r in rules})
        if unknown:
            raise RulesError(f"{path}: disable names rules that do not exist: {unknown}")
        rules = [r for r in rules if r.id not in own.disable]
        for rule in own.rules:
            positions = [i for i, r in enumerate(rules) if r.id == rule.id]
            if positions:
                rules[positions[0]] = rule  # replace in place: order stays meaningful
            else:
                rules.append(rule)
        deadlines.update(own.deadlines)
        review = own.possible_acute_review or review
        timezone = own.timezone or timezone
        day_ends = own.working_day_ends or day_ends
        closed.extend(own.closed_days)
        attempts = own.max_contact_attempts or attempts
    _check_cues(path, rules, checkbox | set(text_cues))
    missing = sorted(set(Priority) - set(deadlines))
    if missing:
        raise RulesError(f"{path}: deadlines missing for priorities {missing}")
    if review is None or review.hours is None:
        raise RulesError(f"{path}: possible_acute_review needs hours (a coordinator looks soon)")
    try:
        policy = DeadlinePolicy.create(
            rules={
                p: DeadlineRule(hours=d.hours, working_days=d.working_days)
                for p, d in deadlines.items()
            },
            timezone=timezone,
            working_day_ends=day_ends,
            closed_days=tuple(closed),
        )
    except ValueError as exc:
        raise RulesError(f"{path}: {exc}") from exc
    return RuleSet(
        version=version,
        rules=tuple(rules),
        lexicon=_lexicon(path, text_cues, word_lists, about_another),
        deadlines=policy,
        max_contact_attempts=attempts,
        possible_acute_review_hours=review.hours,
        text_cue_names=frozenset(text_cues),
        tiered_cues=frozenset(c for c, spec in text_cues.items() if spec.tier is not None),
    )


def _check_safe(path: Path, base: RulesFile, own: RulesFile) -> None:
    """A municipality adds; it never weakens what keeps an acute sign from being missed."""
    touched = sorted(set(base.protected) & (set(own.disable) | {r.id for r in own.rules}))
    if touched:
        raise RulesError(
            f"{path}: rules {touched} are protected (the acute and possible-acute paths): "
            "a municipality may add phrases and rules, not disable or replace these"
        )
    for cue, extra in own.text_cues.items():
        old = base.text_cues.get(cue)
        if old is None:
            continue
        if extra.except_ and old.tier is not None:
            raise RulesError(
                f"{path}: text cue {cue!r} has tier {old.tier}: a municipality may add phrases "
                "to it but no 'except' (that could silence an acute sign)"
            )
        changed = [
            key
            for key in ("tier", "when_negated", "when_about_another")
            if getattr(extra, key) is not None and getattr(extra, key) != getattr(old, key)
        ]
        if changed:
            raise RulesError(f"{path}: text cue {cue!r}: {changed} are set by the default file")
    if own.protected:
        raise RulesError(f"{path}: only the default file says which rules are protected")


def _phrase(
    path: Path, where: str, spec: str | PhraseSpec, lists: Mapping[str, Sequence[str]]
) -> Phrase:
    words, within = (spec, DEFAULT_WINDOW) if isinstance(spec, str) else (spec.words, spec.within)
    try:
        return compile_phrase(words, lists, None if within == "sentence" else within)
    except PhraseError as exc:
        raise RulesError(f"{path}: {where}: {exc}") from exc


def _lexicon(
    path: Path,
    text_cues: Mapping[str, TextCueSpec],
    lists: Mapping[str, Sequence[str]],
    about_another: Sequence[str | PhraseSpec],
) -> Lexicon:
    readers = []
    for cue, spec in text_cues.items():
        for target in (spec.when_negated, spec.when_about_another):
            if target is not None and target not in text_cues:
                raise RulesError(f"{path}: text cue {cue!r} lowers to unknown cue {target!r}")
        readers.append(
            CueReader(
                cue=cue,
                phrases=tuple(_phrase(path, f"text cue {cue!r}", p, lists) for p in spec.phrases),
                exceptions=tuple(
                    _phrase(path, f"text cue {cue!r} except", p, lists) for p in spec.except_
                ),
                when_negated=spec.when_negated,
                when_about_another=spec.when_about_another,
            )
        )
    return Lexicon(
        cues=tuple(readers),
        about_another=tuple(_phrase(path, "about_another_person", p, lists) for p in about_another),
        names=frozenset(text_cues),
    )
