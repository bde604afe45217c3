"""HSDS documents in and out: the tabular form round-trips exactly, refused rows say why, and
the map goes through the coordinator API and the `signaalpunt-social-map` command."""

from __future__ import annotations

import asyncio
import copy
import csv
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

from referral_harness import RunningReferral
from signaalpunt_referral.cli import app
from signaalpunt_referral.config import DEMO_MAP
from signaalpunt_referral.hsds import (
    MapOrganisation,
    Rejected,
    from_tables,
    read_document,
    to_tables,
)
from typer.testing import CliRunner


def spec_shaped() -> list[dict[str, Any]]:
    """An organisation written after the HSDS 3.0 schema's field names, with fields this system
    does not use (phones, contacts, funding, program, metadata): they must survive untouched."""
    org, service = str(uuid4()), str(uuid4())
    return [
        {
            "id": org,
            "name": "Stichting Present Terneuzen",
            "alternate_name": "Present",
            "description": "Vrijwilligers die praktische hulp bieden.",
            "email": "info@present.example",
            "website": "https://present.example",
            "year_incorporated": 2010,
            "legal_status": "stichting",
            "services": [
                {
                    "id": service,
                    "organization_id": org,
                    "name": "Klussen en boodschappen",
                    "alternate_name": "Present klusdienst",
                    "description": "Hulp in en om het huis, boodschappen.",
                    "url": "https://present.example/hulp",
                    "email": "hulp@present.example",
                    "status": "temporarily closed",
                    "interpretation_services": "Tolk op aanvraag",
                    "application_process": "Via de sociaal werker",
                    "fees_description": "Gratis",
                    "wait_time": "Twee weken",
                    "minimum_age": 18,
                    "alert": "Gesloten in de zomer",
                    "phones": [{"id": str(uuid4()), "number": "0115-000000", "type": "voice"}],
                    "contacts": [
                        {"id": str(uuid4()), "name": "Coördinator", "title": "vrijwilligers"}
                    ],
                    "languages": [{"id": str(uuid4()), "name": "Nederlands", "code": "nl"}],
                    "service_areas": [
                        {"id": str(uuid4()), "name": "GM0715", "extent_type": "cbs_gemeentecode"}
                    ],
                    "capacities": [
                        {
                            "id": str(uuid4()),
                            "available": 0,
                            "maximum": 5,
                            "unit": {"id": str(uuid4()), "name": "plaatsen"},
                        }
                    ],
                    "service_at_locations": [
                        {
                            "id": str(uuid4()),
                            "location": {
                                "id": str(uuid4()),
                                "name": "Kerkzaal",
                                "latitude": 51.335,
                                "longitude": 3.828,
                            },
                        }
                    ],
                    "schedules": [],
                    "attributes": [
                        {
                            "id": str(uuid4()),
                            "taxonomy_term": {
                                "id": str(uuid4()),
                                "code": "practical_help",
                                "vocabulary": "signaalpunt-needs",
                                "name": "Praktische hulp",
                            },
                        },
                        {
                            "id": str(uuid4()),
                            "taxonomy_term": {
                                "code": "at_home",
                                "vocabulary": "signaalpunt-delivery",
                            },
                        },
                    ],
                }
            ],
        }
    ]


def test_the_tables_round_trip_exactly() -> None:
    for document in (json.loads(DEMO_MAP.read_text()), spec_shaped()):
        tables = to_tables(document)
        assert {"organizations.csv", "services.csv", "languages.csv"} <= set(tables)
        assert from_tables(tables) == document
        assert to_tables(from_tables(tables)) == tables


def test_a_spec_shaped_service_is_read_with_what_referral_needs() -> None:
    items = list(read_document(spec_shaped()))
    assert len(items) == 1
    organisation = items[0]
    assert isinstance(organisation, MapOrganisation)
    service = organisation.services[0]
    assert service.offer.status.value == "temporarily closed"
    assert service.offer.open_places == 0
    assert service.capacity_total == 5
    assert (service.offer.lat, service.offer.lon) == (51.335, 3.828)
    assert {d.value for d in service.offer.delivery} == {"at_home"}


def test_refused_rows_name_their_reason() -> None:
    document = spec_shaped()
    broken = copy.deepcopy(document[0]["services"][0])
    broken["id"] = str(uuid4())
    broken["minimum_age"] = 30
    broken["maximum_age"] = 20
    other = copy.deepcopy(broken)
    other["id"] = "not-a-uuid"
    document[0]["services"] += [broken, other]
    rejected = [i for i in read_document(document) if isinstance(i, Rejected)]
    assert [(r.where, r.reason) for r in rejected] == [
        ("organization 1, service 2", "minimum_age is above maximum_age"),
        ("organization 1, service 3", "service id is not a UUID: 'not-a-uuid'"),
    ]


async def test_the_command_imports_csv_with_a_report_and_exports_it_back(
    referral: RunningReferral, tmp_path: Path
) -> None:
    document = spec_shaped()
    bad = copy.deepcopy(document[0])
    bad["id"] = str(uuid4())
    bad["services"] = [
        {
            **document[0]["services"][0],
            "id": str(uuid4()),
            "organization_id": bad["id"],
            "service_areas": [],
        }
    ]
    source = tmp_path / "in"
    source.mkdir()
    for name, text in to_tables([*document, bad]).items():
        (source / name).write_text(text)
    token = referral.staff("coordinator")["Authorization"].removeprefix("Bearer ")
    base = str(referral.client.base_url)
    runner = CliRunner()
    report = tmp_path / "refused.csv"
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "import",
            str(source),
            "--url",
            base,
            "--token",
            token,
            "--report",
            str(report),
            "--batch",
            "1",
        ],
    )
    assert result.exit_code == 2, result.output  # 2: imported, with refused rows
    assert "imported 1 organisations, 1 services" in result.output
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 1
    assert rows[0]["where"] == "organization 2 (organizations.csv line 3), service 1"
    assert "at least one service area" in rows[0]["reason"]

    out = tmp_path / "out"
    result = await asyncio.to_thread(
        runner.invoke, app, ["export", str(out), "--url", base, "--token", token, "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    exported = from_tables({p.name: p.read_text() for p in out.glob("*.csv")})
    assert exported == document
