"""The right of access (AVG art. 15): everything intake holds on one person, decrypted, with who
processed it (from the access log).

The coordinator finds the person's signals the way an erasure does (`POST /v1/erasures/search`:
the blind index, then their own confirmation of which signals really are that person) and
exports the confirmed ones. The export is itself a processing: one access-log entry per signal,
written in the transaction that read them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from signaalpunt_access import Principal
from signaalpunt_privacy import SubjectErasedError, TamperedError, UnknownSubjectError
from signaalpunt_privacy import access_log as log_book
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose

from . import erasure_repository as repo
from .erasure import require_coordinator
from .recording import Intake

ACTIVITY = "intake.subject_access_export"

SEALED: tuple[tuple[str, str, str, bool], ...] = (
    # (part of the signal, key, the field it was sealed as, sealed with the reporter's own key)
    ("subject", "name", "subject.name", False),
    ("subject", "address", "subject.address", False),
    ("subject", "postcode", "subject.postcode", False),
    ("subject", "phone", "subject.phone", False),
    ("concern", "text", "concern.text", False),
    ("reporter", "name", "reporter.name", True),
    ("reporter", "phone", "reporter.phone", True),
    ("reporter", "email", "reporter.email", True),
    ("reporter", "organisation_sealed", "reporter.organisation", True),
)
"""Every sealed value intake stores (`recording.prepare_signal`)."""

ERASED = "[erased]"


class UnknownSignalsError(LookupError):
    """Some signals are not (or no longer) in the municipality: nothing was exported."""


@dataclass(frozen=True)
class SubjectExport:
    municipality: str
    exported_at: datetime
    exported_by: str
    signals: list[dict[str, Any]]
    accessed: list[log_book.AccessRecord]


async def _opened(intake: Intake, row: dict[str, Any]) -> dict[str, Any]:
    """The stored signal with every sealed value opened (or `[erased]` once its key is gone)."""
    signal: dict[str, Any] = copy.deepcopy(row["signal"])
    reporter_id = signal.get("reporter_id")
    for part, key, field, by_reporter in SEALED:
        sealed = (signal.get(part) or {}).get(key)
        if not sealed:
            continue
        owner = UUID(reporter_id) if by_reporter and reporter_id else row["subject_id"]
        try:
            signal[part][key] = await intake.vault.open(owner, sealed, field=field)
        except (SubjectErasedError, UnknownSubjectError, TamperedError):
            signal[part][key] = ERASED
    return {
        **{k: v for k, v in row.items() if k != "signal"},
        "signal": signal,
    }


async def export_person(
    intake: Intake, principal: Principal, municipality: str, signal_ids: Sequence[UUID]
) -> SubjectExport:
    require_coordinator(principal, municipality)
    wanted = list(dict.fromkeys(signal_ids))
    async with intake.service.transaction() as work:
        rows = await repo.signals_held(work.connection, municipality, wanted)
        if {r["signal_id"] for r in rows} != set(wanted):
            raise UnknownSignalsError("some signals are not in this municipality (or erased)")
        accessed = await log_book.entries(
            work.connection,
            municipalities=[municipality],
            signal_ids=wanted,
            subject_ids=[r["subject_id"] for r in rows],
            limit=10_000,
        )
        signals = [await _opened(intake, r) for r in rows]
        await log_book.record(
            work.connection,
            [
                AccessEntry.of(
                    principal,
                    activity=ACTIVITY,
                    operation=Operation.EXPORT,
                    municipality=municipality,
                    signal_id=r["signal_id"],
                    subject_id=r["subject_id"],
                    categories=tuple(DataCategory),
                    purpose=Purpose.DATA_SUBJECT_ACCESS,
                )
                for r in rows
            ],
        )
    return SubjectExport(
        municipality=municipality,
        exported_at=datetime.now(UTC),
        exported_by=principal.subject,
        signals=signals,
        accessed=accessed,
    )
