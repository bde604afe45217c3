"""The social map in Open Referral HSDS 3.x shape: reading and writing documents (pure).

An HSDS document here is a list of `organization` objects, each with its `services` (HSDS 3.0's
organization schema nests them). Per service, what referral needs is read from HSDS fields:
`status`, `minimum_age`/`maximum_age`, `languages[].code`, `service_areas[].name` (a CBS
gemeentecode such as GM0715), `capacities[]` (HSDS 3.1 service capacity: `available`,
`maximum`), `service_at_locations[].location.latitude/longitude`, and `attributes[]` whose
`taxonomy_term.vocabulary` is one of ours: needs served, target (risk) groups, delivery (at
location, at home, online) and how to refer (email, webhook, api).

The whole object is kept as imported, so an export gives back exactly what came in (fields this
system does not use included), with only status and capacity updated from the live map.

The tabular form (HSDS CSV) flattens the same objects: one CSV per entity (organizations,
services, and one per nested list of a service), the parent's id in `service_id` /
`organization_id`, a nested object's fields as `object.field` columns; numbers and booleans are
typed back by the column's HSDS meaning on import, an empty cell is an absent field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from signaalpunt_contracts import Need, ReferralChannel, RiskGroup

from .ranking import Delivery, Offer, ServiceStatus

VOCAB_NEEDS = "signaalpunt-needs"
VOCAB_TARGET_GROUPS = "signaalpunt-target-groups"
VOCAB_DELIVERY = "signaalpunt-delivery"
VOCAB_REFERRAL = "signaalpunt-referral-channel"

SERVICE_LISTS = (
    "languages",
    "service_areas",
    "capacities",
    "service_at_locations",
    "attributes",
    "schedules",
    "phones",
    "contacts",
    "cost_options",
    "funding",
    "required_documents",
)
"""Nested lists of a service that have their own CSV file (`<name>.csv`)."""

_NUMBERS = frozenset(
    {
        "minimum_age",
        "maximum_age",
        "available",
        "maximum",
        "location.latitude",
        "location.longitude",
        "amount",
        "year_incorporated",
    }
)
_BOOLEANS = frozenset({"location.external_identifier_is_primary"})


class RejectedError(ValueError):
    """One organisation or service that cannot go on the map, with the reason."""


@dataclass(frozen=True)
class MapService:
    """One service as stored: the columns ranking filters on, plus the HSDS object itself."""

    offer: Offer
    channel: ReferralChannel
    email: str | None
    capacity_total: int | None
    document: dict[str, Any]


@dataclass(frozen=True)
class MapOrganisation:
    organisation_id: UUID
    name: str
    email: str | None
    document: dict[str, Any]
    """The organization object without its services."""
    services: tuple[MapService, ...]


@dataclass(frozen=True)
class Rejected:
    where: str
    """"organization 3" or "organization 3, service 2" (1-based) or a CSV file and line."""
    id: str | None
    reason: str


def _uuid(value: Any, what: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise RejectedError(f"{what} is not a UUID: {value!r}") from exc


def _terms(service: dict[str, Any], vocabulary: str) -> list[str]:
    codes: list[str] = []
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        if term.get("vocabulary") == vocabulary:
            codes.append(str(term.get("code")))
    return codes


def _enum_terms(service: dict[str, Any], vocabulary: str, kind: type[Any]) -> frozenset[Any]:
    try:
        return frozenset(kind(code) for code in _terms(service, vocabulary))
    except ValueError as exc:
        raise RejectedError(f"{vocabulary}: {exc}") from exc


def _int_or_none(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise RejectedError(f"{what} must be a whole number")
    return int(value)


def read_service(raw: dict[str, Any], organisation_id: UUID) -> MapService:  # noqa: PLR0912
    if not isinstance(raw, dict):
        raise RejectedError("a service must be an object")
    service_id = _uuid(raw.get("id"), "service id")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RejectedError("service name is missing")
    if "organization_id" in raw and _uuid(raw["organization_id"], "organization_id") != (
        organisation_id
    ):
        raise RejectedError("organization_id differs from the organization it is listed under")
    try:
        status = ServiceStatus(raw.get("status", "active"))
    except ValueError as exc:
        raise RejectedError(f"status: {exc}") from exc
    areas = frozenset(
        str(a.get("name")) for a in raw.get("service_areas") or [] if isinstance(a, dict)
    )
    bad_areas = sorted(a for a in areas if not (len(a) == 6 and a[:2] == "GM" and a[2:].isdigit()))
    if bad_areas:
        raise RejectedError(f"service_areas name must be a CBS gemeentecode (GM0715): {bad_areas}")
    if not areas:
        raise RejectedError("a service needs at least one service area (municipality)")
    needs = _enum_terms(raw, VOCAB_NEEDS, Need)
    if not needs:
        raise RejectedError(f"a service needs at least one {VOCAB_NEEDS} attribute")
    languages = frozenset(
        str(lang.get("code")) for lang in raw.get("languages") or [] if lang.get("code")
    )
    min_age = _int_or_none(raw.get("minimum_age"), "minimum_age")
    max_age = _int_or_none(raw.get("maximum_age"), "maximum_age")
    if min_age is not None and max_age is not None and min_age > max_age:
        raise RejectedError("minimum_age is above maximum_age")
    capacities = raw.get("capacities") or []
    available = total = None
    if capacities:
        available = _int_or_none(capacities[0].get("available"), "capacities.available")
        total = _int_or_none(capacities[0].get("maximum"), "capacities.maximum")
        if available is None or available < 0:
            raise RejectedError("capacities.available must be 0 or more")
    lat = lon = None
    for link in raw.get("service_at_locations") or []:
        location = link.get("location") or {}
        if location.get("latitude") is not None and location.get("longitude") is not None:
            lat, lon = float(location["latitude"]), float(location["longitude"])
            break
    delivery = _enum_terms(raw, VOCAB_DELIVERY, Delivery) or frozenset({Delivery.AT_LOCATION})
    channels = _enum_terms(raw, VOCAB_REFERRAL, ReferralChannel)
    if len(channels) > 1:
        raise RejectedError(f"one {VOCAB_REFERRAL} per service")
    channel = next(iter(channels), ReferralChannel.EMAIL)
    email = raw.get("email")
    if channel is ReferralChannel.EMAIL and not email:
        raise RejectedError("referral by e-mail needs the service's email")
    offer = Offer(
        service_id=service_id,
        organisation_id=organisation_id,
        name=name.strip(),
        areas=areas,
        status=status,
        needs=needs,
        languages=languages,
        open_places=available,
        min_age=min_age,
        max_age=max_age,
        target_groups=_enum_terms(raw, VOCAB_TARGET_GROUPS, RiskGroup),
        delivery=delivery,
        lat=lat,
        lon=lon,
    )
    document = {k: v for k, v in raw.items() if k != "organization"}
    return MapService(
        offer=offer, channel=channel, email=email, capacity_total=total, document=document
    )


def read_document(
    document: Any,
) -> Iterator[MapOrganisation | Rejected]:
    """Each organisation with the services that are fine, and each refusal with its reason."""
    if not isinstance(document, list):
        yield Rejected("document", None, "an HSDS document is a list of organization objects")
        return
    for i, raw in enumerate(document, start=1):
        where = f"organization {i}"
        if not isinstance(raw, dict):
            yield Rejected(where, None, "an organization must be an object")
            continue
        try:
            organisation_id = _uuid(raw.get("id"), "organization id")
            name = raw.get("name")
            if not isinstance(name, str) or not name.strip():
                raise RejectedError("organization name is missing")
        except RejectedError as exc:
            yield Rejected(where, str(raw.get("id")), str(exc))
            continue
        services: list[MapService] = []
        for j, service in enumerate(raw.get("services") or [], start=1):
            try:
                services.append(read_service(service, organisation_id))
            except (RejectedError, TypeError, AttributeError, ValueError) as exc:
                sid = service.get("id") if isinstance(service, dict) else None
                yield Rejected(f"{where}, service {j}", str(sid), str(exc))
        yield MapOrganisation(
            organisation_id=organisation_id,
            name=name.strip(),
            email=raw.get("email"),
            document={k: v for k, v in raw.items() if k != "services"},
            services=tuple(services),
        )


def with_live_state(
    document: dict[str, Any], *, status: str, open_places: int | None
) -> dict[str, Any]:
    """The stored HSDS object with the live status and open places written back."""
    out = dict(document)
    out["status"] = status
    if open_places is not None and out.get("capacities"):
        first = {**out["capacities"][0], "available": open_places}
        out["capacities"] = [first, *out["capacities"][1:]]
    return out


def organisation_document(
    organisation: dict[str, Any], services: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    return {**organisation, "services": list(services)}


# -- the tabular form ----------------------------------------------------------------------------


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, str]:
    row: dict[str, str] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            row.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            # a deeper list (rare in our use) travels as JSON in one cell
            row[name] = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif value is None:
            row[name] = "null"
        elif isinstance(value, bool):
            row[name] = "true" if value else "false"
        else:
            row[name] = str(value)
    return row


def _unflatten(row: dict[str, str]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for column, cell in row.items():
        if cell == "" or column.startswith("_"):
            continue
        key = column.rsplit(".", 1)[-1]
        value: Any = cell
        if cell == "null":
            value = None
        elif cell.startswith("[") and cell.endswith("]"):
            value = json.loads(cell)
        elif column in _BOOLEANS or key in _BOOLEANS:
            value = cell == "true"
        elif column in _NUMBERS or key in _NUMBERS:
            number = float(cell)
            value = int(number) if number.is_integer() and "." not in cell else number
        target = obj
        parts = column.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return obj


def _csv(rows: list[dict[str, str]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_tables(document: list[dict[str, Any]]) -> dict[str, str]:
    """The HSDS tabular form: file name → CSV text. Row order keeps list order."""
    organisations: list[dict[str, str]] = []
    services: list[dict[str, str]] = []
    nested: dict[str, list[dict[str, str]]] = {name: [] for name in SERVICE_LISTS}
    for organisation in document:
        organisations.append(_flatten({k: v for k, v in organisation.items() if k != "services"}))
        for service in organisation.get("services") or []:
            plain = {k: v for k, v in service.items() if k not in SERVICE_LISTS}
            # organization_id is implied by nesting in JSON; the table needs it (and says if
            # the JSON did not have it, so the round trip gives back exactly the same)
            row = _flatten(plain)
            if "organization_id" not in plain:
                row["organization_id"] = str(organisation["id"])
                row["_implied_organization_id"] = "1"
            services.append(row)
            for name in SERVICE_LISTS:
                if name not in service:
                    continue
                if not service[name]:
                    # an empty list is kept apart from an absent one
                    nested[name].append({"service_id": str(service["id"]), "_empty": "1"})
                for item in service[name]:
                    entry = _flatten(item)
                    if "service_id" not in item:
                        entry["service_id"] = str(service["id"])
                        entry["_implied_service_id"] = "1"
                    nested[name].append(entry)
    tables = {"organizations.csv": _csv(organisations), "services.csv": _csv(services)}
    tables.update({f"{name}.csv": _csv(rows) for name, rows in nested.items() if rows})
    return tables


def from_tables(tables: dict[str, str]) -> list[dict[str, Any]]:
    """Back from the tabular form to organization objects with their services."""

    def rows(name: str) -> list[dict[str, str]]:
        text = tables.get(name)
        return list(csv.DictReader(io.StringIO(text))) if text else []

    by_service: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in SERVICE_LISTS:
        for row in rows(f"{name}.csv"):
            service_id = row.get("service_id", "")
            lists = by_service.setdefault(service_id, {})
            items = lists.setdefault(name, [])
            if row.get("_empty") == "1":
                continue
            item = _unflatten(row)
            if row.get("_implied_service_id") == "1":
                item.pop("service_id", None)
            items.append(item)
    services_of: dict[str, list[dict[str, Any]]] = {}
    for row in rows("services.csv"):
        service = _unflatten(row)
        organisation_id = row.get("organization_id", "")
        if row.get("_implied_organization_id") == "1":
            service.pop("organization_id", None)
        service.update(by_service.get(row.get("id", ""), {}))
        services_of.setdefault(organisation_id, []).append(service)
    document: list[dict[str, Any]] = []
    for row in rows("organizations.csv"):
        organisation = _unflatten(row)
        organisation["services"] = services_of.get(row.get("id", ""), [])
        document.append(organisation)
    return document
