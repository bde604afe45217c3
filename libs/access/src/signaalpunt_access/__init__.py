"""Authentication and authorisation shared by every HTTP service: bearer JWTs checked against a
JWKS, mapped onto a `Principal` with municipalities, roles and channels."""

from .principal import (
    AuthenticationError,
    AuthorizationError,
    Principal,
    PrincipalKind,
)
from .tokens import TokenVerifier

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "Principal",
    "PrincipalKind",
    "TokenVerifier",
]
