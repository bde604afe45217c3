"""A local OpenID Connect provider for development and tests (never in production).

It stands in for the consortium's identity provider: discovery, an authorization endpoint with a
page to choose one of the development staff accounts, the token endpoint (authorization code with
PKCE S256, each code once, for the redirect URI it was issued to), the JWKS and RP-initiated
logout. The access tokens are the ones `signaalpunt-tokens mint` makes (same key in
`.local/dev-auth`, same issuer and audience), so every service's API accepts them as they are.

    uv run python -m signaalpunt_console.dev_idp      # http://127.0.0.1:8110

It ships with the console so that compose can run it beside the console (`dev-idp`), and refuses
to start with `SIGNAALPUNT_ENVIRONMENT=production`. Where the browser reaches it by another
address than the console does (compose: `127.0.0.1:8110` against `dev-idp:8110`),
`SIGNAALPUNT_DEV_IDP_PUBLIC_URL` names the browser's: discovery then gives that one for the pages
a browser opens (authorization, logout) and the asking client's for the rest (token, JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from signaalpunt_access.dev_tokens import AUDIENCE, DEV_DIR, DEV_ISSUER, mint

CODE_SECONDS = 60
REFRESH_SECONDS = 8 * 3600  # a working day: the console's session lasts as long


@dataclass(frozen=True)
class DevUser:
    username: str
    name: str
    roles: tuple[str, ...]
    municipalities: tuple[str, ...]

    @property
    def subject(self) -> str:
        return f"staff:{self.username}"


DEV_USERS = (
    DevUser("regisseur-terneuzen", "Regisseur Terneuzen", ("coordinator",), ("GM0715",)),
    # a second coordinator: erasures wait for another's approval (four eyes)
    DevUser("regisseur-terneuzen-2", "Tweede regisseur Terneuzen", ("coordinator",), ("GM0715",)),
    DevUser("loket-terneuzen", "Loket Terneuzen", ("desk",), ("GM0715",)),
    DevUser("team-terneuzen", "Team welzijn Terneuzen", ("team",), ("GM0715",)),
    DevUser("regisseur-hulst", "Regisseur Hulst", ("coordinator",), ("GM0677",)),
)


@dataclass
class _Grant:
    user: DevUser
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires: float


@dataclass
class DevIdentityProvider:
    keys: Path = DEV_DIR
    users: tuple[DevUser, ...] = DEV_USERS
    clients: frozenset[str] = frozenset({"signaalpunt-console"})
    issuer: str = DEV_ISSUER
    token_seconds: int = 3600
    public_url: str | None = None
    """Where browsers reach the provider, when not at the address the console asks."""
    _grants: dict[str, _Grant] = field(default_factory=dict)
    # refresh tokens, each usable once (rotation): a stolen one that was used is worthless
    _refresh: dict[str, tuple[DevUser, str, float]] = field(default_factory=dict)

    def refresh_token(self, user: DevUser, client_id: str) -> str:
        token = secrets.token_urlsafe(32)
        self._refresh[token] = (user, client_id, time.time() + REFRESH_SECONDS)
        return token

    def user(self, username: str) -> DevUser | None:
        return next((u for u in self.users if u.username == username), None)

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + self.token_seconds,
            "name": grant.user.name,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        key = (self.keys / "signing-key.pem").read_bytes()
        kid = (self.keys / "kid").read_text()
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})

    def access_token(self, user: DevUser) -> str:
        return mint(
            self.keys,
            subject=user.subject,
            kind="staff",
            municipalities=user.municipalities,
            roles=user.roles,
            name=user.name,
            ttl_seconds=self.token_seconds,
            issuer=self.issuer,
            audience=AUDIENCE,
        )


def _loopback(uri: str) -> bool:
    """Development redirects go back to this machine only."""
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _token_error(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_grant", "error_description": description}, status_code=400
    )


def build_app(provider: DevIdentityProvider) -> FastAPI:
    app = FastAPI(title="Signaalpunt development identity provider", docs_url=None, redoc_url=None)

    @app.get("/.well-known/openid-configuration")
    async def discovery(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        browser = (provider.public_url or base).rstrip("/")
        return {
            "issuer": provider.issuer,
            "authorization_endpoint": f"{browser}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks.json",
            "end_session_endpoint": f"{browser}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((provider.keys / "jwks.json").read_text())
        return loaded

    @app.get("/authorize", response_class=HTMLResponse)
    async def authorize(request: Request) -> Response:
        q = request.query_params
        problem = _authorize_problem(provider, dict(q))
        if problem:
            return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(q.get(name, ""))}">'
            for name in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        )
        buttons = "".join(
            f'<li><button type="submit" name="username" value="{u.username}">'
            f"{html.escape(u.name)} ({', '.join(u.roles)}; {', '.join(u.municipalities)})"
            "</button></li>"
            for u in provider.users
        )
        return HTMLResponse(
            '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
            "<title>Inloggen (ontwikkeling)</title></head><body><main>"
            "<h1>Inloggen bij Signaalpunt (ontwikkel-IdP)</h1>"
            f'<form method="post" action="/authorize">{hidden}<ul>{buttons}</ul></form>'
            "</main></body></html>"
        )

    @app.post("/authorize")
    async def approve(  # noqa: PLR0917 - one parameter per form field
        client_id: str = Form(),
        redirect_uri: str = Form(),
        state: str = Form(""),
        nonce: str = Form(""),
        code_challenge: str = Form(),
        username: str = Form(),
    ) -> Response:
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "response_type": "code",
        }
        problem = _authorize_problem(provider, params)
        user = provider.user(username)
        if problem or user is None:
            return HTMLResponse(f"<p>{html.escape(problem or 'unknown user')}</p>", 400)
        code = secrets.token_urlsafe(32)
        provider._grants[code] = _Grant(
            user,
            client_id,
            redirect_uri,
            code_challenge,
            nonce or None,
            time.time() + CODE_SECONDS,
        )
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=303
        )

    @app.post("/token")
    async def token(
        *,
        grant_type: str = Form(),
        client_id: str = Form(),
        code: str = Form(""),
        redirect_uri: str = Form(""),
        code_verifier: str = Form(""),
        refresh_token: str = Form(""),
    ) -> Response:
        if grant_type == "refresh_token":
            return refreshed(refresh_token, client_id)
        grant = provider._grants.pop(code, None)  # once: a second use is refused
        if grant_type != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if grant is None or grant.expires < time.time():
            return _token_error("unknown or expired code")
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            return _token_error("code issued to another client or redirect URI")
        if not secrets.compare_digest(_s256(code_verifier), grant.challenge):
            return _token_error("PKCE verification failed")
        return JSONResponse(
            {
                "access_token": provider.access_token(grant.user),
                "id_token": provider.id_token(grant),
                "refresh_token": provider.refresh_token(grant.user, client_id),
                "token_type": "Bearer",
                "expires_in": provider.token_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )

    def refreshed(refresh_token: str, client_id: str) -> Response:
        """A new access token (and a new refresh token: the old one is used up)."""
        held = provider._refresh.pop(refresh_token, None)
        if held is None or held[2] < time.time():
            return _token_error("unknown, used or expired refresh token")
        user, issued_to, _ = held
        if issued_to != client_id:
            return _token_error("refresh token issued to another client")
        return JSONResponse(
            {
                "access_token": provider.access_token(user),
                "refresh_token": provider.refresh_token(user, client_id),
                "token_type": "Bearer",
                "expires_in": provider.token_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/logout")
    async def logout(post_logout_redirect_uri: str = "") -> Response:
        if post_logout_redirect_uri and _loopback(post_logout_redirect_uri):
            return RedirectResponse(post_logout_redirect_uri, status_code=303)
        return HTMLResponse("<p>Uitgelogd / Signed out</p>")

    return app


def _authorize_problem(provider: DevIdentityProvider, q: dict[str, str]) -> str | None:
    if q.get("response_type") != "code":
        return "response_type must be code"
    if q.get("client_id") not in provider.clients:
        return "unknown client"
    if not _loopback(q.get("redirect_uri", "")):
        return "redirect_uri must be on this machine"
    if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
        return "PKCE with S256 is required"
    return None


def main() -> None:  # pragma: no cover - `make run`
    import uvicorn  # noqa: PLC0415

    if os.environ.get("SIGNAALPUNT_ENVIRONMENT") == "production":
        raise SystemExit("the development identity provider never runs in production")
    keys = Path(os.environ.get("SIGNAALPUNT_DEV_IDP_KEYS", str(DEV_DIR)))
    host = os.environ.get("SIGNAALPUNT_DEV_IDP_HTTP_HOST", "127.0.0.1")
    port = int(os.environ.get("SIGNAALPUNT_DEV_IDP_HTTP_PORT", "8110"))
    public_url = os.environ.get("SIGNAALPUNT_DEV_IDP_PUBLIC_URL") or None
    provider = DevIdentityProvider(keys=keys, public_url=public_url)
    uvicorn.run(build_app(provider), host=host, port=port)


if __name__ == "__main__":
    main()
