"""Views of matching's rows that more than one route shows (no personal data in them)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel
from signaalpunt_contracts import MatchStatus

from . import repository as repo


class MatchView(BaseModel):
    match_id: UUID
    match_request_id: UUID
    volunteer_id: UUID
    status: MatchStatus
    version: int
    attempt: int
    score: float
    reasons: list[str]
    respond_by: datetime | None
    active_since: datetime | None
    end_reason: str | None
    real_match: bool | None

    @classmethod
    def of(cls, m: repo.Match) -> "MatchView":
        return cls(
            match_id=m.match_id,
            match_request_id=m.match_request_id,
            volunteer_id=m.volunteer_id,
            status=m.status,
            version=m.version,
            attempt=m.attempt,
            score=m.score,
            reasons=list(m.reasons),
            respond_by=m.respond_by,
            active_since=m.active_since,
            end_reason=m.end_reason.value if m.end_reason else None,
            real_match=m.real_match,
        )
