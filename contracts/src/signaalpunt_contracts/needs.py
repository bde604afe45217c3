"""The help question ("hulpvraag"): what the person needs, recorded before any offer is chosen.

"Probeer eerst de hulpvraag te achterhalen en bepaal daarna het zorgaanbod" (seed 003, step 8):
the desk or the team records the person's needs from a fixed vocabulary, in the person's own
words (sealed), with the languages they speak, how far they can travel and whether they consent
to being referred. The referral service ranks offers from this; nothing here names the person.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .signals import Sealed

LanguageCode = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2}$"), Field(description="ISO 639-1, e.g. nl, ar")
]


class Need(StrEnum):
    """The vocabulary of needs; the social map's services say which of these they serve."""

    SOCIAL_CONTACT = "social_contact"  # sociaal contact, samen koffie drinken, samen eten
    BUDDY = "buddy"  # een maatje
    DAYTIME_ACTIVITY = "daytime_activity"  # zinvolle dagbesteding
    GRIEF_SUPPORT = "grief_support"  # rouw en verlies
    EXISTENTIAL_CONVERSATION = "existential_conversation"  # levensvragen
    PRACTICAL_HELP = "practical_help"  # boodschappen, vervoer
    DIGITAL_SKILLS = "digital_skills"
    LANGUAGE = "language"  # taal
    DEBT_MONEY = "debt_money"  # schulden, geldzorgen
    CARER_RELIEF = "carer_relief"  # respijtzorg voor mantelzorgers
    YOUTH_CARE = "youth_care"  # jeugdteam, jongerenwerk


VOLUNTEER_NEEDS = frozenset({Need.BUDDY, Need.PRACTICAL_HELP, Need.EXISTENTIAL_CONVERSATION})
"""Needs a volunteer meets: they also go to the volunteer-matching service as a match request
(existential conversations: volunteers trained for questions of life, with a social worker)."""

Interest = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$"),
    Field(description="a lower-case word from the interests list, e.g. walking, chess, music"),
]

WeekSlot = Annotated[
    str,
    StringConstraints(pattern=r"^(mon|tue|wed|thu|fri|sat|sun)_(morning|afternoon|evening)$"),
    Field(description="a part of a weekday, e.g. tue_afternoon"),
]
"""Weekly availability as parts of days: 21 slots a week."""


class Mobility(StrEnum):
    TRAVELS_INDEPENDENTLY = "travels_independently"
    NEEDS_TRANSPORT = "needs_transport"  # can go out with transport or company
    HOUSEBOUND = "housebound"  # only offers that come to the home (or online)


class GeoPoint(BaseModel):
    """A neighbourhood, not an address: rounded to 0.01 degree (about a kilometre)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=50.0, le=54.0)
    lon: float = Field(ge=3.0, le=8.0)

    @field_validator("lat", "lon")
    @classmethod
    def _neighbourhood_only(cls, value: float) -> float:
        return round(value, 2)


FIRST_NAME_FIELD = "help_question.first_name"
"""The field a help question's first name is sealed under (bound into the seal): triage seals
it, the matching service opens it for the volunteer's proposal."""


TEXT_FIELD = "help_question.text"
"""The field the person's words are sealed under."""

CONTACT_FIELDS = {
    "name": "help_question.contact.name",
    "phone": "help_question.contact.phone",
    "email": "help_question.contact.email",
}
"""The fields the contact details are sealed under, per attribute of `ContactDetails`."""


class ContactDetails(BaseModel):
    """How the receiving organisation may reach the person, as the person agreed with the desk;
    every value sealed with the subject's key (`CONTACT_FIELDS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Sealed | None = None
    phone: Sealed | None = None
    email: Sealed | None = None


class HelpQuestion(BaseModel):
    """The person's help question as the desk or team recorded it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    needs: tuple[Need, ...] = Field(min_length=1, max_length=11)
    text: Sealed | None = Field(default=None, description="the question in the person's words")
    languages: tuple[LanguageCode, ...] = Field(default=("nl",), max_length=10)
    mobility: Mobility = Mobility.TRAVELS_INDEPENDENTLY
    age: int | None = Field(default=None, ge=0, le=120, description="for age-bound offers")
    near: GeoPoint | None = Field(default=None, description="the neighbourhood, for distance")
    consent_to_refer: bool = Field(
        description="the person agreed to be referred and to the organisation receiving the data"
    )
    derived_from_cues: bool = Field(
        default=False, description="proposed from the triage cues, confirmed by the desk"
    )
    # optional (minor change): what a volunteer match needs, passed on in the match request
    first_name: Sealed | None = Field(
        default=None,
        description="the person's first name, sealed with the subject's key (field "
        "help_question.first_name): the only personal value a volunteer sees before accepting",
    )
    interests: tuple[Interest, ...] = Field(default=(), max_length=20)
    availability: tuple[WeekSlot, ...] = Field(
        default=(), max_length=21, description="when the person can meet (day and part of day)"
    )
    start_on: date | None = Field(
        default=None, description="from when; a volunteer's VOG must be valid then (default: now)"
    )
    # optional (minor change): how the organisation the person is referred to may reach them
    consent_to_share_contact: bool = Field(
        default=False,
        description="the person agreed that the receiving organisation gets the contact details",
    )
    contact: ContactDetails | None = Field(
        default=None,
        description="only with consent_to_share_contact; opened for an organisation only when "
        "consent_to_refer holds too",
    )

    @model_validator(mode="after")
    def _contact_only_with_consent(self) -> HelpQuestion:
        if self.contact is not None and not self.consent_to_share_contact:
            raise ValueError("contact details go with consent_to_share_contact only")
        return self
