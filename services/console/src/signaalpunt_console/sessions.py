"""Who is signed in, and the CSRF token of their session (pure helpers over the session dict).

The session lives in a cookie signed by Starlette's SessionMiddleware (itsdangerous): HttpOnly,
SameSite=Lax (the identity provider's redirect back is a top-level GET that must carry it),
Secure outside plain-http development. It holds the person's access token, so anyone with the
cookie acts as them until it expires: the cookie's lifetime is the token's.

CSRF: a synchronizer token per session (OWASP), in a hidden field of every form and checked on
every POST with a constant-time comparison. SameSite=Lax alone would still let a same-site page
post."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from signaalpunt_access import Principal

CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class User:
    subject: str
    name: str
    roles: frozenset[str]
    municipalities: tuple[str, ...]
    access_token: str
    expires_at: float

    @property
    def coordinator(self) -> bool:
        return "coordinator" in self.roles

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def sign_in(
    session: dict[str, Any],
    principal: Principal,
    access_token: str,
    id_token: str,
    expires_in: int,
    *,
    refresh_token: str | None = None,
) -> None:
    """A new session for the signed-in person (a fresh CSRF token: no fixation)."""
    session.clear()
    session["user"] = {
        "subject": principal.subject,
        "name": principal.name,
        "roles": sorted(principal.roles),
        "municipalities": sorted(principal.municipalities),
    }
    session["access_token"] = access_token
    session["id_token"] = id_token
    session["expires_at"] = time.time() + expires_in
    session["csrf"] = secrets.token_urlsafe(32)
    if refresh_token:
        session["refresh_token"] = refresh_token


def refreshed(
    session: dict[str, Any], access_token: str, id_token: str, expires_in: int, refresh_token: str
) -> None:
    """The same person's session with a new access token (roles and CSRF token kept)."""
    session["access_token"] = access_token
    session["id_token"] = id_token
    session["expires_at"] = time.time() + expires_in
    session["refresh_token"] = refresh_token


def due_for_refresh(session: dict[str, Any], margin: float, now: float | None = None) -> str | None:
    """The session's refresh token when its access token ends within `margin` seconds."""
    token = session.get("refresh_token")
    expires = session.get("expires_at")
    if not isinstance(token, str) or not isinstance(expires, int | float):
        return None
    if "user" not in session:
        return None
    return token if (time.time() if now is None else now) >= expires - margin else None


def user_of(session: dict[str, Any], now: float | None = None) -> User | None:
    """The signed-in person, or None when nobody is or the token has expired."""
    stored = session.get("user")
    token = session.get("access_token")
    expires = session.get("expires_at")
    if (
        not isinstance(stored, dict)
        or not isinstance(token, str)
        or not isinstance(expires, int | float)
    ):
        return None
    if (time.time() if now is None else now) >= expires:
        return None
    return User(
        subject=str(stored["subject"]),
        name=str(stored.get("name") or stored["subject"]),
        roles=frozenset(stored.get("roles", ())),
        municipalities=tuple(stored.get("municipalities", ())),
        access_token=token,
        expires_at=float(expires),
    )


def csrf_token(session: dict[str, Any]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid(session: dict[str, Any], sent: object) -> bool:
    expected = session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(sent, str)
        and secrets.compare_digest(expected.encode(), sent.encode())
    )
