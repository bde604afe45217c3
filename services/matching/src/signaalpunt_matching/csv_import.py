"""Volunteers from a CSV file (pure): one row per volunteer, lists separated by `;`.

Columns (header row; unknown columns are refused, empty cells mean "not given"): municipality,
external_id, first_name, last_name, email, phone, postcode, max_travel_km, skills, trained_on,
languages, interests, availability, max_matches, vog_issued_on, vog_expires_on, social_worker,
status. A row that does not parse is rejected with its line number and the reason (no value of
the row is repeated in the reason: the report may be mailed around); the others go on.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from pydantic import ValidationError

from .registry import VolunteerIn

LIST_COLUMNS = frozenset({"skills", "languages", "interests", "availability"})
COLUMNS = tuple(VolunteerIn.model_fields)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    external_id: str | None
    reason: str


@dataclass
class ParsedCsv:
    items: list[tuple[int, VolunteerIn]] = field(default_factory=list)  # (line, volunteer)
    rejected: list[RejectedRow] = field(default_factory=list)


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def read_csv(text: str) -> ParsedCsv:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    unknown = sorted(set(reader.fieldnames or ()) - set(COLUMNS))
    parsed = ParsedCsv()
    if unknown:
        parsed.rejected.append(RejectedRow(1, None, f"unknown columns: {', '.join(unknown)}"))
        return parsed
    for row in reader:
        line = reader.line_num
        values: dict[str, object] = {}
        for name, cell in row.items():
            if name is None:  # more cells than columns
                values["<extra>"] = cell
                continue
            text_value = (cell or "").strip()
            if not text_value:
                continue
            values[name] = (
                tuple(p.strip() for p in text_value.split(";") if p.strip())
                if name in LIST_COLUMNS
                else text_value
            )
        external_id = str(values.get("external_id") or "") or None
        try:
            parsed.items.append((line, VolunteerIn.model_validate(values)))
        except ValidationError as exc:
            parsed.rejected.append(RejectedRow(line, external_id, _reason(exc)))
    return parsed


def write_report(rejected: list[RejectedRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "external_id", "reason"])
    for r in sorted(rejected, key=lambda r: r.line):
        writer.writerow([r.line, r.external_id or "", r.reason])
    return out.getvalue()
