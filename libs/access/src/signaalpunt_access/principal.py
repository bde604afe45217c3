"""Who is asking: a partner system, a staff member, or another service, and what they may do."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class PrincipalKind(StrEnum):
    PARTNER = "partner"  # a partner organisation's system or portal account
    STAFF = "staff"  # coordinator, desk, team member of a municipality
    SERVICE = "service"  # another Signaalpunt service


class AuthenticationError(Exception):
    """401: no token, or one that is not valid (signature, expiry, issuer, audience)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthorizationError(Exception):
    """403: a valid token that does not allow this municipality, role or channel."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Principal(BaseModel):
    """The checked claims of a bearer token. Logs may carry `subject` (an id), nothing else."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="stable id, e.g. urn:signaalpunt:partner:jumbo-terneuzen")
    kind: PrincipalKind
    name: str = ""
    municipalities: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    partner_type: str | None = None

    def require_kind(self, *kinds: PrincipalKind) -> None:
        if self.kind not in kinds:
            raise AuthorizationError(f"not for a {self.kind.value} token")

    def require_municipality(self, municipality: str) -> None:
        if municipality not in self.municipalities:
            raise AuthorizationError(f"not authorised for municipality {municipality}")

    def require_role(self, *roles: str) -> None:
        if not self.roles.intersection(roles):
            raise AuthorizationError(f"needs one of the roles: {', '.join(roles)}")

    def require_channel(self, channel: str) -> None:
        if channel not in self.channels:
            raise AuthorizationError(f"not authorised for channel {channel}")
