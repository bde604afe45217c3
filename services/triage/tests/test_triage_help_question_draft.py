"""The help question drafted from the cues (pure): which cue points to which need."""

from __future__ import annotations

import pytest
from signaalpunt_contracts import FiredRule, Mobility, Need, RiskGroup
from signaalpunt_triage.help_question import draft_help_question


def fired(*matched: str) -> FiredRule:
    return FiredRule(rule="r", description="d", matched=matched)


@pytest.mark.parametrize(
    ("matched", "groups", "needs", "mobility"),
    [
        ((), (), (), Mobility.TRAVELS_INDEPENDENTLY),
        (
            ("text:death_wish",),
            (),
            (Need.EXISTENTIAL_CONVERSATION,),
            Mobility.TRAVELS_INDEPENDENTLY,
        ),
        # the acute cues are 113's and the GP's first: no need is drafted from them
        (("text:suicide_risk", "self_harm"), (), (), Mobility.TRAVELS_INDEPENDENTLY),
        (
            ("informal_carer",),
            (RiskGroup.INFORMAL_CARER,),
            (Need.CARER_RELIEF,),
            Mobility.TRAVELS_INDEPENDENTLY,
        ),
        (("low_mobility", "age>=75"), (), (Need.PRACTICAL_HELP,), Mobility.NEEDS_TRANSPORT),
        ((), (RiskGroup.MINOR_UNDER_15,), (Need.YOUTH_CARE,), Mobility.TRAVELS_INDEPENDENTLY),
        (
            ("lives_alone", "no_visitors", "text:language_barrier"),
            (),
            (Need.SOCIAL_CONTACT, Need.BUDDY, Need.LANGUAGE),
            Mobility.TRAVELS_INDEPENDENTLY,
        ),
    ],
)
def test_cues_point_to_needs(
    matched: tuple[str, ...],
    groups: tuple[RiskGroup, ...],
    needs: tuple[Need, ...],
    mobility: Mobility,
) -> None:
    draft = draft_help_question((fired(*matched),), groups)
    assert draft.needs == needs
    assert draft.mobility is mobility


def test_a_cue_matched_by_several_rules_counts_once() -> None:
    draft = draft_help_question(
        (fired("recently_bereaved"), fired("text:recently_bereaved", "lives_alone")),
        (RiskGroup.GRIEF_AND_LOSS,),
    )
    assert draft.needs == (Need.GRIEF_SUPPORT, Need.SOCIAL_CONTACT)
    assert draft.from_cues == ("recently_bereaved", "lives_alone")
