"""The volunteer registry: what a coordinator records, sealed per volunteer as intake seals a
subject, and imported many at a time with a report of the rows that were refused.

Each volunteer is a subject of their own in the key store (subject id = volunteer id): names,
contact details and the full postcode are sealed with that data key, so erasing a volunteer is
shredding one key. What matching filters on (skills, languages, availability, the PC4 area and
its centroid, capacity, VOG dates, the coupled social worker) is kept in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from signaalpunt_access import Principal
from signaalpunt_contracts import Interest, LanguageCode, MunicipalityCode, WeekSlot, new_event_id
from signaalpunt_contracts.partner import ASCII_SPACE, BLANK, EMAIL_PATTERN, TEXT_PATTERN
from signaalpunt_privacy import NewDataKey, access_log
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_privacy.vault import Sealer
from signaalpunt_runtime.logs import get_logger

from . import repository as repo
from .domain import Skill, Volunteer, VolunteerStatus
from .handlers import Matching
from .postcodes import UnknownPostcodeError, area_of, areas

log = get_logger(__name__)


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("a date (YYYY-MM-DD), not a number")
    return value


# a date as the document states it (an ISO 8601 string): pydantic's lax mode also took a number
# (0 was 1970-01-01), which the document does not allow
IsoDate = Annotated[date, BeforeValidator(_not_a_number)]


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")  # lax mode took true as 1
    return value


# numbers as the document states them: JSON true is not one (the bounds come first, so the
# document keeps them)
Places = Annotated[int, Field(ge=0, le=20), BeforeValidator(_not_a_bool)]
Kilometres = Annotated[float, Field(ge=0, le=100), BeforeValidator(_not_a_bool)]

# a name is more than white space (it is stripped) and, like every text here, holds no control
# character (TEXT_PATTERN: a NUL in a plain column failed the whole import with a 500)
_TEXT = r"[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*"
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=100,
        pattern=rf"^{_TEXT}[^{BLANK}\x00-\x1F\x7F]{_TEXT}$",
    ),
]


def _rules_in_the_schema(schema: dict[str, Any]) -> None:
    """The checks of `register` and `_consistent` that JSON Schema can state, so a client (and
    schemathesis) knows before sending: the postcode a known area of the volunteer's municipality
    (the shipped postcode table), a training date only with the skill it is for. Not stateable:
    a VOG that expires before it was issued (two dates compared)."""
    by_municipality: dict[str, list[str]] = {}
    for area in areas().values():
        by_municipality.setdefault(area.municipality, []).append(area.postcode4)
    schema["allOf"] = [
        {
            "anyOf": [
                {
                    "properties": {
                        "municipality": {"const": municipality},
                        "postcode": {
                            "pattern": rf"^{ASCII_SPACE}*({'|'.join(sorted(codes))})"
                            rf"{ASCII_SPACE}*([A-Za-z]{{2}})?{ASCII_SPACE}*$"
                        },
                    }
                }
                for municipality, codes in sorted(by_municipality.items())
            ]
        },
        {
            "anyOf": [
                {"properties": {"trained_on": {"type": "null"}}},
                {
                    "properties": {
                        "skills": {"contains": {"const": Skill.EXISTENTIAL_CONVERSATION.value}}
                    }
                },
            ]
        },
    ]


class VolunteerIn(BaseModel):
    """One volunteer as the coordinator records them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_rules_in_the_schema)

    municipality: MunicipalityCode
    external_id: str | None = Field(
        default=None,
        max_length=100,
        pattern=TEXT_PATTERN,
        description="the coordinator's own id: a re-import updates",
    )
    first_name: Name
    last_name: Name | None = None
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, max_length=40, pattern=TEXT_PATTERN)
    postcode: str = Field(max_length=10, description="1234 AB; the area (PC4) must be known")
    max_travel_km: Kilometres = 5.0
    skills: tuple[Skill, ...] = Field(min_length=1)
    trained_on: IsoDate | None = Field(
        default=None, description="training for existential conversations (needed for them)"
    )
    languages: tuple[LanguageCode, ...] = Field(default=("nl",), min_length=1, max_length=10)
    interests: tuple[Interest, ...] = Field(default=(), max_length=20)
    availability: tuple[WeekSlot, ...] = Field(default=(), max_length=21)
    max_matches: Places = 1
    vog_issued_on: IsoDate | None = None
    vog_expires_on: IsoDate | None = Field(
        default=None, description="no VOG: never proposed (the constraint 'vog')"
    )
    social_worker: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    status: VolunteerStatus = VolunteerStatus.ACTIVE

    @model_validator(mode="after")
    def _consistent(self) -> VolunteerIn:
        if self.trained_on is not None and Skill.EXISTENTIAL_CONVERSATION not in self.skills:
            raise ValueError("a training date goes with the skill existential_conversation")
        if (
            self.vog_issued_on is not None
            and self.vog_expires_on is not None
            and self.vog_expires_on < self.vog_issued_on
        ):
            raise ValueError("the VOG expires before it was issued")
        return self


@dataclass(frozen=True)
class Rejected:
    index: int  # the item's position in the batch (the CLI turns it into a CSV line)
    reason: str


@dataclass(frozen=True)
class ImportResult:
    created: list[UUID]
    updated: list[UUID]
    rejected: list[Rejected]


def _sealed(sealer: Sealer, v: VolunteerIn) -> dict[str, str | None]:
    values = {
        "first_name": v.first_name,
        "last_name": v.last_name,
        "email": v.email,
        "phone": v.phone,
        "postcode": v.postcode.strip().upper(),
    }
    return {
        name: sealer.seal(value, field=f"volunteer.{name}") if value else None
        for name, value in values.items()
    }


async def register(
    ctx: Matching,
    items: Sequence[VolunteerIn],
    *,
    municipalities: frozenset[str],
    by: str,
    principal: Principal | None = None,
) -> ImportResult:
    """Store a batch: each item is checked on its own (municipality, postcode area); a refused
    one never stops the rest. Known external ids are updated, the others created. Each
    volunteer's personal data recorded is an access-log entry (by `principal`, or by
    `system:<by>` for the service's own demo load), in the same transaction."""
    rejected: list[Rejected] = []
    accepted: list[tuple[int, VolunteerIn]] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        if item.external_id and (item.municipality, item.external_id) in seen:
            # one person once per batch: a second row with the same id failed the whole batch
            # (500: its data key was not stored yet, the upsert met its row twice)
            rejected.append(Rejected(index, f"external_id {item.external_id} twice in this batch"))
            continue
        if item.municipality not in municipalities:
            rejected.append(Rejected(index, f"not authorised for municipality {item.municipality}"))
            continue
        try:
            area = area_of(item.postcode)
        except UnknownPostcodeError as exc:
            rejected.append(Rejected(index, str(exc)))
            continue
        if area.municipality != item.municipality:
            rejected.append(
                Rejected(index, f"postcode area {area.postcode4} is not in {item.municipality}")
            )
            continue
        accepted.append((index, item))
        if item.external_id:
            seen.add((item.municipality, item.external_id))
    created: list[UUID] = []
    updated: list[UUID] = []
    async with ctx.service.transaction() as work:
        known: dict[tuple[str, str], UUID] = {}
        for municipality in {i.municipality for _, i in accepted}:
            ids = [i.external_id for _, i in accepted if i.municipality == municipality]
            found = await repo.existing_ids(work.connection, municipality, [x for x in ids if x])
            known |= {(municipality, ext): vid for ext, vid in found.items()}
        rows: list[repo.VolunteerRow] = []
        new_keys: list[NewDataKey] = []
        for _, item in accepted:
            existing = known.get((item.municipality, item.external_id or ""))
            if existing is None:
                volunteer_id = new_event_id()
                sealer, key = ctx.vault.new_subject(volunteer_id, item.municipality)
                new_keys.append(key)
                created.append(volunteer_id)
                if item.external_id:
                    known[(item.municipality, item.external_id)] = volunteer_id
            else:
                volunteer_id = existing
                sealer = await ctx.vault.sealer(volunteer_id, item.municipality)
                updated.append(volunteer_id)
            rows.append(_row(volunteer_id, item, sealer))
        # the keys are stored before anything sealed with them is committed
        await ctx.vault.keep(new_keys)
        await repo.upsert_volunteers(work.connection, rows)
        await access_log.record(work.connection, [_registered(r, principal, by) for r in rows])
    log.info(
        "volunteers registered",
        by=by,
        created=len(created),
        updated=len(updated),
        rejected=len(rejected),
    )
    return ImportResult(created, updated, rejected)


def _registered(row: repo.VolunteerRow, principal: Principal | None, by: str) -> AccessEntry:
    fields: dict[str, Any] = {
        "activity": "matching.volunteer_registration",
        "operation": Operation.WRITE,
        "municipality": row.municipality,
        "subject_id": row.volunteer.volunteer_id,
        "categories": (DataCategory.IDENTITY, DataCategory.CONTACT),
        "purpose": Purpose.VOLUNTEER_REGISTRY,
    }
    if principal is not None:
        return AccessEntry.of(principal, **fields)
    return AccessEntry.by_system(f"system:{by}", **fields)


def _row(volunteer_id: UUID, item: VolunteerIn, sealer: Sealer) -> repo.VolunteerRow:
    area = area_of(item.postcode)
    return repo.VolunteerRow(
        volunteer=Volunteer(
            volunteer_id=volunteer_id,
            status=item.status,
            skills=frozenset(item.skills),
            trained_on=item.trained_on,
            languages=frozenset(item.languages),
            interests=frozenset(item.interests),
            availability=frozenset(item.availability),
            home=(area.lat, area.lon),
            max_travel_km=item.max_travel_km,
            max_matches=item.max_matches,
            load=0,
            matches_counted=0,
            vog_expires_on=item.vog_expires_on,
            social_worker=item.social_worker,
        ),
        municipality=item.municipality,
        external_id=item.external_id,
        postcode_area=area.postcode4,
        vog_issued_on=item.vog_issued_on,
        sealed=_sealed(sealer, item),
    )
