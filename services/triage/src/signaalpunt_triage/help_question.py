"""A help question drafted from the triage cues, for the desk to confirm (issue 18).

"Probeer eerst de hulpvraag te achterhalen" (seed 003, step 8): the desk asks the person, but
what the reporter observed already points somewhere: a recent loss to grief support, money
worries to debt help, an informal carer to carer relief. Pure: from the cues the decision's
rules matched (the explanation) and the risk groups to needs and mobility. The desk sees the
draft, asks the person (and for consent: never assumed) and records it with
`derived_from_cues: true`.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaalpunt_contracts import FiredRule, Mobility, Need, RiskGroup

CUE_NEEDS: dict[str, tuple[Need, ...]] = {
    "recently_bereaved": (Need.GRIEF_SUPPORT,),
    "loneliness": (Need.SOCIAL_CONTACT,),
    "lives_alone": (Need.SOCIAL_CONTACT,),
    "no_visitors": (Need.SOCIAL_CONTACT, Need.BUDDY),
    "neglects_self": (Need.PRACTICAL_HELP,),
    "low_mobility": (Need.PRACTICAL_HELP,),
    "financial_worries": (Need.DEBT_MONEY,),
    "language_barrier": (Need.LANGUAGE,),
    "informal_carer": (Need.CARER_RELIEF,),
    "disability_or_psychiatric": (Need.DAYTIME_ACTIVITY,),
    # questions of life without acute risk (the acute cues route to 113 and the GP first)
    "death_wish": (Need.EXISTENTIAL_CONVERSATION,),
    "hopelessness": (Need.EXISTENTIAL_CONVERSATION,),
}

RISK_GROUP_NEEDS: dict[RiskGroup, tuple[Need, ...]] = {
    RiskGroup.GRIEF_AND_LOSS: (Need.GRIEF_SUPPORT,),
    RiskGroup.INFORMAL_CARER: (Need.CARER_RELIEF,),
    RiskGroup.MINOR_UNDER_15: (Need.YOUTH_CARE,),
    RiskGroup.YOUTH_15_24: (Need.SOCIAL_CONTACT,),
}


@dataclass(frozen=True)
class Draft:
    needs: tuple[Need, ...]
    mobility: Mobility
    from_cues: tuple[str, ...]
    """The cue names the needs came from (checkbox or text), for the desk to check."""


def draft_help_question(
    explanation: tuple[FiredRule, ...], risk_groups: tuple[RiskGroup, ...]
) -> Draft:
    cues: list[str] = []
    for fired in explanation:
        for matched in fired.matched:
            cue = matched.removeprefix("text:")
            if cue in CUE_NEEDS and cue not in cues:
                cues.append(cue)
    needs: list[Need] = []
    for cue in cues:
        needs.extend(n for n in CUE_NEEDS[cue] if n not in needs)
    for group in risk_groups:
        needs.extend(n for n in RISK_GROUP_NEEDS.get(group, ()) if n not in needs)
    mobility = (
        Mobility.NEEDS_TRANSPORT if "low_mobility" in cues else Mobility.TRAVELS_INDEPENDENTLY
    )
    return Draft(needs=tuple(needs), mobility=mobility, from_cues=tuple(cues))
