"""What a coordinator or the desk sees first: the queue in sections (pure; no I/O).

Acute first (with the advice to involve 113 or the GP), then what a coordinator must review
(possibly acute, or naming death or grief: triage's `needs_review`), then every other open case
by its first-contact deadline. Triage's queue
is already "most urgent first"; the sections make the order visible and the counts honest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACUTE = "acute"
TO_REVIEW = "to_review"
BY_DEADLINE = "by_deadline"
SECTIONS = (ACUTE, TO_REVIEW, BY_DEADLINE)


@dataclass(frozen=True)
class Section:
    key: str
    cases: tuple[Mapping[str, Any], ...]

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def overdue(self) -> int:
        return sum(1 for c in self.cases if c.get("overdue"))


def section_of(case: Mapping[str, Any]) -> str:
    if case.get("route") == "acuut" or case.get("priority") == "acute":
        return ACUTE
    if case.get("route") == "mogelijk_acuut" or case.get("needs_review"):
        return TO_REVIEW
    return BY_DEADLINE


def _deadline(case: Mapping[str, Any]) -> datetime:
    # possible-acute cases are due for review first, then for first contact
    value = case.get("review_due") or case["first_contact_due"]
    return datetime.fromisoformat(str(value))


def sections(cases: Iterable[Mapping[str, Any]]) -> list[Section]:
    """The three sections, each by deadline (earliest first); empty sections included."""
    grouped: dict[str, list[Mapping[str, Any]]] = {key: [] for key in SECTIONS}
    for case in cases:
        grouped[section_of(case)].append(case)
    return [Section(key, tuple(sorted(grouped[key], key=_deadline))) for key in SECTIONS]
