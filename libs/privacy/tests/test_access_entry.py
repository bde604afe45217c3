"""An access-log entry holds ids and vocabulary only, and never refuses a reader for the shape of
their token's subject (pure: no database)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError
from signaalpunt_access import Principal, PrincipalKind
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose


def _entry(subject: str, **extra: object) -> AccessEntry:
    principal = Principal(
        subject=subject,
        kind=PrincipalKind.STAFF,
        municipalities=frozenset({"GM0715"}),
        roles=frozenset({"coordinator", "desk"}),
    )
    fields: dict[str, object] = {
        "activity": "triage.case_view",
        "operation": Operation.READ,
        "municipality": "GM0715",
        "signal_id": uuid4(),
        "categories": (DataCategory.CASE,),
        "purpose": Purpose.SIGNAL_HANDLING,
    }
    return AccessEntry.of(principal, **(fields | extra))


def test_a_plain_subject_is_logged_as_it_is() -> None:
    entry = _entry("urn:signaalpunt:staff:regisseur-1")
    assert entry.actor == "urn:signaalpunt:staff:regisseur-1"
    assert entry.roles == ("coordinator", "desk")
    assert entry.actor_kind == "staff"


def test_a_subject_the_log_does_not_take_becomes_a_stable_digest() -> None:
    odd = "auth0|Mevrouw de Vries"
    first, again = _entry(odd), _entry(odd)
    assert first.actor == again.actor
    assert first.actor.startswith("sha256:")
    assert "Vries" not in first.actor


def test_free_text_never_fits_an_entry() -> None:
    with pytest.raises(ValidationError):
        _entry("urn:x", activity="Mevrouw de Vries bekeek dit")
    with pytest.raises(ValidationError):
        _entry("urn:x", municipality="Terneuzen")
    with pytest.raises(ValidationError):
        _entry("urn:x", extra_note="anything")
