"""What the receiving organisation may see of the person, opened from the seals.

Only what it needs to help, and only what the person agreed to: the words of the help question
with their consent to the referral, the contact details (name, phone, e-mail as the person gave
them to the desk) only with their consent to share them. Everything else (needs, languages,
mobility, age) is vocabulary. An erased person's seals no longer open: the organisation gets the
vocabulary and `erased` is set (the access log says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signaalpunt_contracts import CONTACT_FIELDS, TEXT_FIELD
from signaalpunt_privacy import PersonalDataVault, SubjectErasedError, UnknownSubjectError
from signaalpunt_privacy.access_log import DataCategory

from . import repository as repo


@dataclass(frozen=True)
class Disclosed:
    words: str | None = None
    contact: dict[str, str] = field(default_factory=dict)
    """Per attribute (name, phone, e-mail), what the person agreed to give."""
    erased: bool = False

    @property
    def categories(self) -> tuple[DataCategory, ...]:
        """What was opened, for the access log."""
        opened = [DataCategory.CASE]
        if self.words:
            opened.append(DataCategory.CONCERN)
        if self.contact:
            opened.append(DataCategory.CONTACT)
        if "name" in self.contact:
            opened.append(DataCategory.IDENTITY)
        return tuple(opened)


async def disclose(vault: PersonalDataVault, stored: repo.StoredQuestion) -> Disclosed:
    q = stored.question
    if not q.consent_to_refer:
        return Disclosed()
    sealed: dict[str, tuple[str, str]] = {}
    if q.text:
        sealed["words"] = (q.text, TEXT_FIELD)
    if q.contact is not None and q.consent_to_share_contact:
        for attribute, seal_field in CONTACT_FIELDS.items():
            value = getattr(q.contact, attribute)
            if value:
                sealed[attribute] = (value, seal_field)
    opened: dict[str, str] = {}
    try:
        for name, (value, seal_field) in sealed.items():
            opened[name] = await vault.open(stored.subject_id, value, field=seal_field)
    except (SubjectErasedError, UnknownSubjectError):
        return Disclosed(erased=True)  # the needs, not the words nor how to reach them
    words = opened.pop("words", None)
    return Disclosed(words=words, contact=opened)
