"""Issue 13: the kinds of text the acute fast path and the risk groups missed, one test each.

Every sentence here is of a kind the issue lists (Dutch word order, paraphrase, a bare mention
of someone else's suicide, long gaps between words, family words, elided compounds, wheelchair
users, "spreekt nog weinig Nederlands", a minor routed out of scope, negation that silenced an
alarm). The shipped rules decide them as the service does; the assertions are what a
coordinator would notice: the route (tier), the risk groups, whether a person reviews it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
from signaalpunt_triage.decisions import Decision, decide
from signaalpunt_triage.rules import Rulebook

RULES = Path(__file__).resolve().parents[1] / "src" / "signaalpunt_triage" / "rules"
BOOK = Rulebook.load(RULES, {c.value for c in Cue})
MONDAY = datetime(2026, 11, 23, 9, 14, tzinfo=ZoneInfo("Europe/Amsterdam"))
RISK = {"acuut", "mogelijk_acuut"}
ORDINARY = {"team_eenzaamheid", "team_welzijn", "buiten_bereik", "jeugdteam"}


def decided(text: str, birth_year: int | None = None) -> Decision:
    signal = SignalReceivedV1(
        signal_id=uuid4(),
        subject_id=uuid4(),
        channel=Channel.WEB_FORM,
        reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR),
        subject=Subject(birth_year=birth_year),
        concern=Concern(cues=()),
        received_at=MONDAY,
    )
    return decide(signal, text, BOOK.default)


def groups(decision: Decision) -> set[str]:
    return {g.value for g in decision.risk_groups}


def cues(decision: Decision) -> set[str]:
    return {m for f in decision.explanation for m in f.matched}


# -- Dutch word order: the same words in a subordinate clause or with words in between ---------


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("De buurvrouw vertelde dat ze het allemaal niet meer ziet zitten.", RISK),
        ("Hij zegt dat hij het leven echt niet meer ziet zitten.", {"acuut"}),
        ("Meneer zegt dat hij er vanavond echt een eind aan wil maken.", {"acuut"}),
        ("Ik ben bang dat ze, als niemand komt, niet meer wil leven.", {"acuut"}),
        ("Zij zegt dat ze dood wil, elke dag weer.", {"acuut"}),
    ],
)
def test_word_order_and_words_in_between_still_raise_the_alarm(text: str, tier: set[str]) -> None:
    assert decided(text).route.value in tier


# -- paraphrase without a form of "willen" -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Mijn vader zegt dat het leven geen zin meer heeft.",
        "Ze zou liever niet meer wakker worden, zegt ze.",
        "Hij zou er liever niet meer zijn.",
        "Mevrouw zegt dat ze klaar is met het leven.",
        "Sinds de verhuizing heeft hij geen zin meer in het leven.",
    ],
)
def test_a_death_wish_without_willen_is_possible_acute(text: str) -> None:
    decision = decided(text)
    assert decision.route.value in RISK
    assert decision.needs_review


# -- a bare mention about someone else: grief, a person looks, no acute alert -----------------


@pytest.mark.parametrize(
    "text",
    [
        "Haar broer is door zelfmoord overleden.",
        "Zijn zoon heeft twee jaar geleden zelfmoord gepleegd, hij zit nu veel alleen.",
        "Papa is in maart door zelfdoding overleden.",
    ],
)
def test_someone_elses_suicide_is_grief_and_possible_acute_not_acute(text: str) -> None:
    decision = decided(text)
    assert decision.route.value == "mogelijk_acuut"  # a person looks within hours, no alarm
    assert "grief_and_loss" in groups(decision)
    assert decision.review_due == MONDAY + timedelta(hours=4)


def test_ones_own_suicide_talk_stays_acute_even_with_a_relative_named() -> None:
    assert decided("Mijn vader praat over zelfmoord sinds mama is overleden.").route.value == (
        "acuut"
    )


# -- negation lowers acute to possible acute, never to nothing ---------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Heeft geen doodswens, maar is wel erg eenzaam.",
        "Ontkent suïcidale gedachten. Woont alleen.",
        "She does not have suicidal thoughts; she lives alone.",
        "Geen zelfbeschadiging gezien, wel littekens van vroeger.",
    ],
)
def test_a_negated_suicide_or_self_harm_mention_is_still_seen_by_a_person(text: str) -> None:
    decision = decided(text)
    assert decision.route.value == "mogelijk_acuut"
    assert decision.needs_review


# -- nothing that names dying, suicide or self-harm goes on without a person -------------------


@pytest.mark.parametrize(
    "text",
    [
        "Is bang om alleen thuis dood te gaan.",
        "Ze heeft het over sterven, verder praat ze weinig.",
        "Haar man is vorig jaar overleden.",
    ],
)
def test_dying_named_on_an_ordinary_route_is_reviewed(text: str) -> None:
    decision = decided(text)
    assert decision.route.value in ORDINARY | RISK
    assert decision.needs_review


# -- misspellings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Zelfmoort gedachten, woont alleen.", "Ze praat over suiside.", "Hij wil zelmoord plegen."],
)
def test_common_misspellings_still_raise_the_alarm(text: str) -> None:
    assert decided(text).route.value == "acuut"


# -- risk groups at any distance and in any phrasing -------------------------------------------


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Meneer slaapt al een paar maanden in zijn auto.", "homeless"),
        ("Hij heeft geen vaste woon- of verblijfplaats.", "homeless"),
        ("Ze slaapt sinds de zomer in een tentje in het bos.", "homeless"),
        ("Zijn broer is vorig jaar door een ongeluk op de snelweg overleden.", "grief_and_loss"),
        ("Sinds papa overleden is, zit ze alleen.", "grief_and_loss"),
        ("Mama is vorig jaar gestorven.", "grief_and_loss"),
        ("Zijn opa is dood en hij mist hem.", "grief_and_loss"),
        ("Oma is in mei overleden, opa is nu alleen.", "grief_and_loss"),
        ("Mevrouw zit in een rolstoel en komt nergens meer.", "disability_or_psychiatric"),
        ("Hij is slechtziend en kan de post niet meer lezen.", "disability_or_psychiatric"),
        ("Zorgt al jaren voor haar zieke man.", "informal_carer"),
    ],
)
def test_risk_groups_found_in_ordinary_sentences(text: str, group: str) -> None:
    assert group in groups(decided(text))


def test_spreekt_nog_weinig_nederlands_is_a_language_barrier() -> None:
    assert "text:language_barrier" in cues(decided("Mevrouw spreekt nog weinig Nederlands."))


# -- a minor is accepted, flagged and followed up by the youth team ---------------------------


def test_a_minor_goes_to_the_youth_team_not_out_of_scope() -> None:
    decision = decided("Mijn dochter van 12 heeft geen vriendjes.", birth_year=2014)
    assert decision.route.value == "jeugdteam"
    assert "minor_under_15" in groups(decision)
    assert decision.needs_review
    assert "youth_care" in {a.value for a in decision.advice}


# -- explainable: each cue says which of the rules' words matched ----------------------------


def test_the_explanation_names_the_rules_words_that_matched() -> None:
    decision = decided("Ze zei dat ze er een eind aan wil maken.")
    fired = {f.rule: f for f in decision.explanation}
    assert "suicide_risk: eind + aan + maken + er" in fired["acute-risk"].matched_words


# -- an age written in the words counts when no birth year was given --------------------------


@pytest.mark.parametrize(
    ("text", "route", "group"),
    [
        ("Mijn dochter van 12 zit in de pauze altijd alleen.", "jeugdteam", "minor_under_15"),
        ("Jongen (10) zit na school alleen thuis tot laat.", "jeugdteam", "minor_under_15"),
        ("Mevrouw (82) woont alleen en krijgt nooit bezoek.", "team_eenzaamheid", "senior_75_plus"),
        ("Mijn opa is 90 en niemand komt meer.", "team_welzijn", "senior_75_plus"),
    ],
)
def test_an_age_in_the_words_finds_minors_and_seniors(text: str, route: str, group: str) -> None:
    decision = decided(text)
    assert decision.route.value == route
    assert group in groups(decision)


@pytest.mark.parametrize(
    "text", ["Ze is al 10 jaar eenzaam.", "Hij woont op nummer 12 en ziet niemand."]
)
def test_a_duration_or_house_number_is_no_age(text: str) -> None:
    assert "minor_under_15" not in groups(decided(text))
