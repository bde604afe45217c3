"""The rules against a table of realistic signals: every route, every risk group, the acute fast
path in many spellings both ways, and everyday phrases that must not raise an alarm.

Each row is what a supermarket cashier, GP, neighbour or the person themself could write, with
the checkboxes they ticked, and the decision a coordinator would expect. The rules files are the
shipped ones (services/triage/src/signaalpunt_triage/rules/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from signaalpunt_contracts import (
    Channel,
    Concern,
    Cue,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    Subject,
)
from signaalpunt_triage.decisions import decide
from signaalpunt_triage.rules import Rulebook

RULES = Path(__file__).resolve().parents[1] / "src" / "signaalpunt_triage" / "rules"
BOOK = Rulebook.load(RULES, {c.value for c in Cue})
MONDAY = datetime(2026, 11, 23, 9, 14, tzinfo=ZoneInfo("Europe/Amsterdam"))


@dataclass(frozen=True)
class Row:
    text: str | None
    route: str
    priority: str = "normal"
    groups: frozenset[str] = frozenset()
    fired: frozenset[str] = frozenset()  # rules that must be in the explanation
    not_fired: frozenset[str] = frozenset()
    cues: tuple[str, ...] = ()
    birth_year: int | None = None
    age_band: str | None = None
    urgency: str = "normal"
    reporter: str = "business"
    municipality: str = "GM0687"
    review: bool | None = None
    matched: frozenset[str] = field(default_factory=frozenset)  # in some rule's `matched`


def row(text: str | None, route: str, **kw: object) -> Row:
    for key in ("groups", "fired", "not_fired", "matched"):
        if key in kw:
            kw[key] = frozenset(kw[key])  # type: ignore[call-overload]
    return Row(text, route, **kw)  # type: ignore[arg-type]


ACUTE = "acuut"
EEN = "team_eenzaamheid"
WEL = "team_welzijn"
OUT = "buiten_bereik"
POSSIBLE = "mogelijk_acuut"
YOUTH_TEAM = "jeugdteam"
ACUTE_RULE = {"acute-risk"}
POSSIBLE_RULE = {"possible-acute-risk"}

TABLE: list[tuple[str, Row]] = [
    # -- acute: suicide, in many spellings ---------------------------------------------------
    (
        "wil-niet-meer-leven",
        row(
            "Mevrouw zei bij de kassa dat ze niet meer wil leven.",
            ACUTE,
            priority="acute",
            fired=ACUTE_RULE,
            matched={"text:suicide_risk"},
            review=True,
        ),
    ),
    (
        "wil-dood",
        row("Hij zegt steeds dat hij dood wil.", ACUTE, priority="acute", fired=ACUTE_RULE),
    ),
    (
        "wil-dood-gaan",
        row("Ze wil gewoon doodgaan, zegt ze.", ACUTE, priority="acute", fired=ACUTE_RULE),
    ),
    (
        "doodswens",
        row(
            "Patient uit een doodswens sinds de verhuizing.",
            ACUTE,
            priority="acute",
            fired=ACUTE_RULE,
        ),
    ),
    (
        "suicide-diacritics",
        row(
            "Ik maak me zorgen over suïcidale uitspraken van mijn buurman.",
            ACUTE,
            priority="acute",
            fired=ACUTE_RULE,
        ),
    ),
    ("suicide-plain", row("Praat over suicide", ACUTE, priority="acute")),
    (
        "zelfmoord-gedachten",
        row(
            "Heeft zelfmoordgedachten, woont alleen.",
            ACUTE,
            priority="acute",
            fired={"acute-risk", "lives-alone"},
        ),
    ),
    ("einde-aan-leven", row("Meneer wil een einde aan zijn leven maken.", ACUTE, priority="acute")),
    ("er-een-eind-aan", row("Ze zei: ik maak er een eind aan.", ACUTE, priority="acute")),
    (
        "er-eind-aan-wil-maken",
        row("Meneer zegt dat hij er een eind aan wil maken", ACUTE, priority="acute"),
    ),
    ("iets-aandoen", row("Ik ben bang dat ze zichzelf iets aandoet.", ACUTE, priority="acute")),
    ("iets-aan-te-doen", row("Hij dreigt zich iets aan te doen", ACUTE, priority="acute")),
    (
        "ziet-het-niet-meer-zitten",
        row(
            "Sinds haar man overleed ziet ze het leven niet meer zitten.",
            ACUTE,
            priority="acute",
            groups={"grief_and_loss"},
        ),
    ),
    (
        "pillen-sparen",
        row("De thuiszorg vond dat hij pillen aan het sparen is.", ACUTE, priority="acute"),
    ),
    # tired of life and "it need not go on" are a death wish, not clearly intent: possible acute
    # (issue 13), a coordinator reviews within hours
    (
        "levensmoe",
        row(
            "Levensmoe, 91 jaar, woont alleen",
            POSSIBLE,
            priority="high",
            review=True,
            groups={"senior_75_plus"},  # the age in the words counts (issue 13)
            matched={"age>=75 (text)"},
        ),
    ),
    ("trein", row("Hij zei dat hij voor de trein wil springen.", ACUTE, priority="acute")),
    ("uppercase-no-punctuation", row("WIL NIET MEER VERDER LEVEN", ACUTE, priority="acute")),
    ("typo-spacing", row("ze   wil  niet meer  leven!!!", ACUTE, priority="acute")),
    ("english-die", row("My neighbour told me she wants to die.", ACUTE, priority="acute")),
    ("english-kill", row("He talked about killing himself", ACUTE, priority="acute")),
    ("english-end-life", row("She wants to end her life", ACUTE, priority="acute")),
    (
        "hoeft-niet-meer",
        row("Hij zegt dat het voor hem niet meer hoeft.", POSSIBLE, priority="high"),
    ),
    (
        "niet-meer-wakker",
        row("Ze wil het liefst niet meer wakker worden.", ACUTE, priority="acute"),
    ),
    (
        "er-niet-meer-zijn",
        row(
            "Mijn oom zegt dat hij er niet meer wil zijn, hij wil er niet meer zijn.",
            ACUTE,
            priority="acute",
        ),
    ),
    ("balkon", row("Dreigde van het balkon te springen", ACUTE, priority="acute")),
    ("zelfdoding", row("Ze heeft het vaak over zelfdoding.", ACUTE, priority="acute")),
    ("caps-diaeresis", row("SUÏCIDAAL", ACUTE, priority="acute")),
    (
        "english-doesnt-want-to-live",
        row("He said he doesn't want to live anymore.", ACUTE, priority="acute"),
    ),
    ("negation-stops-at-en", row("Krijgt nooit bezoek en wil dood.", ACUTE, priority="acute")),
    (
        "negation-other-clause",
        row("Geen contact met familie, ze wil dood.", ACUTE, priority="acute"),
    ),
    # -- acute: self-harm and danger -----------------------------------------------------------
    (
        "zelfbeschadiging",
        row(
            "Meisje van 19 met zelfbeschadiging, voelt zich eenzaam.",
            ACUTE,
            priority="acute",
            birth_year=2007,
            groups={"youth_15_24"},
        ),
    ),
    (
        "snijdt-zich",
        row(
            "Ze snijdt zichzelf in haar armen.", ACUTE, priority="acute", matched={"text:self_harm"}
        ),
    ),
    ("self-harm-english", row("Signs of self-harm on his arms", ACUTE, priority="acute")),
    (
        "ligt-op-de-grond",
        row(
            "Ze ligt al uren op de grond en kan niet opstaan",
            ACUTE,
            priority="acute",
            matched={"text:acute_danger"},
        ),
    ),
    (
        "niet-aanspreekbaar",
        row("Buurman is niet aanspreekbaar, deur zit op slot", ACUTE, priority="acute"),
    ),
    (
        "mishandeld",
        row("Ik denk dat hij door zijn zoon wordt mishandeld.", ACUTE, priority="acute"),
    ),
    # -- acute through the checkboxes or the reporter's urgency ----------------------------------
    (
        "checkbox-wish-to-die",
        row(
            None,
            ACUTE,
            priority="acute",
            cues=("wish_to_die",),
            matched={"wish_to_die"},
            fired=ACUTE_RULE,
        ),
    ),
    ("checkbox-self-harm", row(None, ACUTE, priority="acute", cues=("self_harm", "lives_alone"))),
    (
        "reported-acute",
        row(
            "Graag vandaag nog bellen",
            ACUTE,
            priority="acute",
            urgency="acute",
            fired={"acute-reported"},
            not_fired=ACUTE_RULE,
        ),
    ),
    # -- acute wins over everything else, even a minor ------------------------------------------
    (
        "minor-acute",
        row(
            "Hij wil dood, zegt hij op school",
            ACUTE,
            priority="acute",
            birth_year=2013,
            groups={"minor_under_15"},
        ),
    ),
    # -- negation: no acute alarm, but never nothing: a person reviews it (issue 13) -------------
    (
        "geen-doodswens",
        row(
            "Heeft geen doodswens, maar is wel erg eenzaam.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
            fired=POSSIBLE_RULE,
            matched={"text:risk_mentioned"},
        ),
    ),
    (
        "nooit-zelfmoord",
        row(
            "Ze heeft nooit aan zelfmoord gedacht, wel veel alleen.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
            review=True,
        ),
    ),
    (
        "ontkent",
        row(
            "Ontkent suïcidale gedachten. Woont alleen.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "english-no",
        row(
            "She does not have suicidal thoughts; she lives alone.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
        ),
    ),
    # -- everyday phrases: no alarm --------------------------------------------------------------
    (
        "schrok-dood",
        row(
            "Ik schrok me dood toen ik zag hoe mager ze is geworden, ze eet niet.",
            EEN,
            priority="high",
            not_fired=ACUTE_RULE,
            fired={"self-neglect"},
        ),
    ),
    (
        "dood-graag",
        row(
            "Hij wil dood graag weer eens naar de markt, maar komt de deur niet meer uit.",
            WEL,
            not_fired=ACUTE_RULE,
            fired={"isolated"},
        ),
    ),
    (
        "doodmoe",
        row(
            "Mantelzorger is doodmoe van de zorg voor haar man.",
            WEL,
            groups={"informal_carer"},
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "verveelt-zich-dood",
        row(
            "Verveelt zich dood in het verzorgingshuis en voelt zich eenzaam",
            WEL,
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "plant-dood",
        row(
            "De planten zijn allemaal dood, het huis is vervuild.",
            EEN,
            priority="high",
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "snijdt-brood",
        row("Snijdt zelf haar brood nog, maar ziet niemand meer.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "opgehangen-telefoon",
        row("Ze heeft opgehangen toen ik belde, ze is eenzaam.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "gevaar-weg",
        row(
            "Het gevaarlijke kruispunt maakt dat ze niet meer naar buiten gaat.",
            WEL,
            not_fired=ACUTE_RULE,
            review=True,
        ),
    ),
    (
        "grief-not-acute",
        row(
            "Haar man is vorig jaar doodgegaan, sindsdien is ze alleen.",
            EEN,
            groups={"grief_and_loss"},
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "geen-doodswens-of",
        row(
            "Heeft geen doodswens of zelfmoordgedachten, wel geen vrienden.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "niet-suicidaal",
        row(
            "Niet suïcidaal volgens de huisarts; woont alleen.",
            POSSIBLE,
            priority="high",
            not_fired=ACUTE_RULE,
        ),
    ),
    (
        "wil-niet-meer-alleen-zijn",
        row("Ze wil niet meer alleen zijn.", WEL, not_fired=ACUTE_RULE, review=True),
    ),
    (
        "hoeft-niet-meer-te-werken",
        row("Sinds hij niet meer hoeft te werken is hij eenzaam.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "niet-meer-verder-met",
        row("Hij wil niet meer verder met de thuiszorg en is eenzaam.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "english-not-in-danger",
        row("She is not in danger but very lonely.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "bang-om-dood-te-gaan",
        row("Is bang om alleen thuis dood te gaan, woont alleen.", WEL, not_fired=ACUTE_RULE),
    ),
    (
        "zijn-vrouw-is-dood",
        row(
            "Zijn vrouw is dood sinds vorig jaar.",
            EEN,
            groups={"grief_and_loss"},
            not_fired=ACUTE_RULE,
        ),
    ),
    # -- team eenzaamheid --------------------------------------------------------------------------
    (
        "alone-no-visitors",
        row(
            "Mevrouw woont alleen en krijgt nooit bezoek.",
            EEN,
            fired={"alone-and-isolated"},
            matched={"text:lives_alone", "text:no_visitors"},
        ),
    ),
    (
        "checkbox-alone-isolated",
        row(None, EEN, cues=("lives_alone", "no_visitors"), fired={"alone-and-isolated"}),
    ),
    ("weduwe", row("Sinds ze weduwe is komt ze niet meer buiten.", EEN, groups={"grief_and_loss"})),
    (
        "overlijden-van",
        row(
            "Na het overlijden van zijn vrouw trekt hij zich terug.", EEN, groups={"grief_and_loss"}
        ),
    ),
    ("checkbox-bereaved", row(None, EEN, cues=("recently_bereaved",), groups={"grief_and_loss"})),
    (
        "psychiatric",
        row(
            "Man met psychiatrische achtergrond, heeft geen contacten.",
            EEN,
            groups={"disability_or_psychiatric"},
            review=True,
        ),
    ),
    (
        "beperking",
        row(
            "Jongen met een verstandelijke beperking, zit de hele dag alleen thuis.",
            EEN,
            birth_year=2004,
            groups={"disability_or_psychiatric", "youth_15_24"},
        ),
    ),
    (
        "homeless",
        row(
            "Slaapt sinds de scheiding in zijn auto, is dakloos.",
            EEN,
            priority="high",
            groups={"homeless"},
            review=True,
        ),
    ),
    (
        "verwaarloosd",
        row(
            "Huis is erg vervuild en hij verwaarloost zichzelf.",
            EEN,
            priority="high",
            fired={"self-neglect"},
        ),
    ),
    # -- risk groups by age -------------------------------------------------------------------
    (
        "senior-birth-year",
        row(
            "Woont alleen, ziet niemand.",
            EEN,
            priority="high",
            birth_year=1944,
            groups={"senior_75_plus"},
            fired={"senior-isolated"},
        ),
    ),
    (
        "senior-band",
        row(
            "Komt de deur niet meer uit.",
            WEL,
            priority="high",
            age_band="75_plus",
            groups={"senior_75_plus"},
        ),
    ),
    (
        "youth-lonely",
        row(
            "Student, 19, voelt zich erg eenzaam sinds hij op kamers woont.",
            WEL,
            birth_year=2007,
            groups={"youth_15_24"},
        ),
    ),
    ("youth-band", row("Is erg eenzaam", WEL, age_band="15_24", groups={"youth_15_24"})),
    (
        "minor",
        row(
            "Mijn dochter van 12 heeft geen vrienden en is eenzaam.",
            YOUTH_TEAM,
            birth_year=2014,
            groups={"minor_under_15"},
            review=True,
            fired={"minor"},
        ),
    ),
    (
        "minor-band",
        row(
            None, YOUTH_TEAM, age_band="under_15", cues=("no_visitors",), groups={"minor_under_15"}
        ),
    ),
    ("age-74-not-senior", row("Woont alleen", WEL, birth_year=1952, not_fired={"senior-75-plus"})),
    # -- team welzijn -------------------------------------------------------------------------
    (
        "carer",
        row(
            "Zorgt al jaren voor haar zieke man en komt zelf nergens meer aan toe.",
            WEL,
            groups={"informal_carer"},
        ),
    ),
    ("mantelzorger", row("Overbelaste mantelzorger", WEL, groups={"informal_carer"})),
    (
        "lonely-only",
        row("Ze geeft aan zich eenzaam te voelen.", WEL, fired={"loneliness-expressed"}),
    ),
    (
        "money",
        row(
            "Heeft schulden en durft daardoor niemand uit te nodigen.",
            WEL,
            fired={"practical-worries"},
        ),
    ),
    ("rollator", row("Loopt met een rollator en kan de trap niet meer af.", WEL)),
    ("language", row("Spreekt geen Nederlands, kent niemand in de wijk, is eenzaam.", WEL)),
    ("english-lonely", row("My elderly neighbour is very lonely and lives alone.", WEL)),
    ("lives-alone-checkbox", row(None, WEL, cues=("lives_alone",), fired={"lives-alone"})),
    # -- priority from the reporter ----------------------------------------------------------------
    (
        "reported-high",
        row("Is erg eenzaam", WEL, priority="high", urgency="high", fired={"reported-high"}),
    ),
    ("reported-low", row("Is eenzaam", WEL, priority="low", urgency="low")),
    ("reported-low-but-neglect", row("Eet slecht, valt af", EEN, priority="high", urgency="low")),
    # -- buiten bereik ------------------------------------------------------------------------
    (
        "nuisance",
        row("Geluidsoverlast van de buren, elke nacht.", OUT, fired={"out-of-scope-topic"}),
    ),
    ("parking", row("Er wordt altijd fout geparkeerd voor mijn deur.", OUT)),
    ("nuisance-but-lonely", row("Burenruzie, en mevrouw woont alleen en krijgt geen bezoek.", EEN)),
    # -- nothing recognisable: a person decides -----------------------------------------------
    ("nothing", row("Graag even contact opnemen.", WEL, review=True, fired=set())),
    ("empty", row(None, WEL, review=True)),
    # -- Terneuzen's own rules ----------------------------------------------------------------
    (
        "terneuzen-senior-alone",
        row(
            "Woont alleen",
            WEL,
            priority="high",
            birth_year=1940,
            groups={"senior_75_plus"},
            municipality="GM0715",
            fired={"senior-alone-terneuzen"},
        ),
    ),
    (
        "terneuzen-own-phrase",
        row(
            "Staat alleen op de wereld",
            WEL,
            municipality="GM0715",
            fired={"loneliness-expressed"},
        ),
    ),
    (
        "middelburg-no-own-phrase",
        row(
            "Staat alleen op de wereld",
            WEL,
            municipality="GM0687",
            review=True,
            not_fired={"loneliness-expressed"},
        ),
    ),
]


def signal_for(r: Row) -> SignalReceivedV1:
    return SignalReceivedV1(
        signal_id=uuid4(),
        subject_id=uuid4(),
        channel=Channel.WEB_FORM,
        reporter=Reporter(kind=ReporterKind(r.reporter)),
        subject=Subject(birth_year=r.birth_year, age_band=r.age_band),  # type: ignore[arg-type]
        concern=Concern(cues=tuple(Cue(c) for c in r.cues)),
        reported_urgency=r.urgency,  # type: ignore[arg-type]
        received_at=MONDAY,
    )


def test_the_table_is_broad() -> None:
    routes = {r.route for _, r in TABLE}
    groups = set().union(*(r.groups for _, r in TABLE))
    assert len(TABLE) >= 60
    assert routes == {ACUTE, POSSIBLE, EEN, WEL, OUT, YOUTH_TEAM}
    assert groups == {
        "senior_75_plus",
        "youth_15_24",
        "minor_under_15",
        "grief_and_loss",
        "disability_or_psychiatric",
        "informal_carer",
        "homeless",
    }
    assert len({name for name, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("name", "r"), TABLE, ids=[n for n, _ in TABLE])
def test_decision(name: str, r: Row) -> None:
    rules = BOOK.for_municipality(r.municipality)
    decision = decide(signal_for(r), r.text, rules)
    fired = {f.rule for f in decision.explanation}
    matched = {m for f in decision.explanation for m in f.matched}
    explained = f"{name}: fired {sorted(fired)}, matched {sorted(matched)}"
    assert decision.route.value == r.route, explained
    assert decision.priority.value == r.priority, explained
    assert {g.value for g in decision.risk_groups} == r.groups, explained
    assert r.fired <= fired, explained
    assert not (r.not_fired & fired), explained
    assert r.matched <= matched, explained
    if r.review is not None:
        assert decision.needs_review is r.review, explained
    if r.route == ACUTE:
        assert decision.needs_review, "an acute signal always goes past a person"
        if r.urgency != "acute":
            assert "involve_113_or_gp" in {a.value for a in decision.advice}, explained
    # the explanation names cues from a fixed vocabulary, never the reporter's words
    vocabulary = {c.value for c in Cue} | {f"text:{c}" for c in rules.text_cue_names}
    for item in matched:
        assert item in vocabulary or re.fullmatch(
            r"(age>=\d+|age<\d+)( \(text\))?|(reported_urgency|reporter|channel)=\w+", item
        ), item
