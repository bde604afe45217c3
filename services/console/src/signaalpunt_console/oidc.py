"""Sign-in with OpenID Connect: the authorization code flow with PKCE (RFC 7636, S256).

The console is the OIDC client; the consortium's identity provider signs people in and issues
the access token that every service's API already checks (`signaalpunt/kind`, roles,
municipalities). The exchange is an ordinary form POST (httpx), the ID token is checked with
PyJWT against the provider's JWKS (signature, issuer, audience = our client id, expiry, nonce).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

ID_TOKEN_ALGORITHMS = ["ES256", "RS256", "EdDSA"]


class SignInError(Exception):
    """The sign-in did not complete: the reason is safe to show (no token content)."""


class RefreshRefused(SignInError):  # noqa: N818 - an outcome
    """The provider refused the refresh token (used, expired, revoked): sign in again."""


@dataclass(frozen=True)
class Provider:
    """What the discovery document says (only what the console uses)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Attempt:
    """One sign-in under way: kept in the session between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> Attempt:
        # 64 random bytes → 86 characters: within PKCE's 43–128
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
        )

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    expires_in: int
    refresh_token: str | None = None


class OidcClient:
    def __init__(
        self,
        *,
        discovery_url: str,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        scopes: str,
        http: httpx.AsyncClient,
    ) -> None:
        self._discovery_url = discovery_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._scopes = scopes
        self._http = http
        self._provider: Provider | None = None
        self._jwks: jwt.PyJWKSet | None = None

    async def provider(self) -> Provider:
        """The discovery document, fetched once (a provider that is down: SignInError)."""
        if self._provider is None:
            try:
                answer = await self._http.get(self._discovery_url)
                answer.raise_for_status()
                doc: dict[str, Any] = answer.json()
                self._provider = Provider(
                    issuer=doc["issuer"],
                    authorization_endpoint=doc["authorization_endpoint"],
                    token_endpoint=doc["token_endpoint"],
                    jwks_uri=doc["jwks_uri"],
                    end_session_endpoint=doc.get("end_session_endpoint"),
                )
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise SignInError("the identity provider does not answer") from exc
        return self._provider

    async def _signing_key(self, provider: Provider, kid: str, *, fresh: bool) -> jwt.PyJWK:
        """The provider's key `kid`; the key set is fetched again once for an unknown kid (a
        rotation). Fetched with httpx, not PyJWKClient: that one blocks the event loop."""
        if self._jwks is None or fresh:
            try:
                answer = await self._http.get(provider.jwks_uri)
                answer.raise_for_status()
                self._jwks = jwt.PyJWKSet.from_dict(answer.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                raise SignInError("the identity provider's keys are not available") from exc
        try:
            return self._jwks[kid]
        except KeyError:
            if fresh:
                raise SignInError("the ID token is signed with an unknown key") from None
            return await self._signing_key(provider, kid, fresh=True)

    async def authorization_url(self, attempt: Attempt) -> str:
        provider = await self.provider()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self._scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": attempt.code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{provider.authorization_endpoint}?{urlencode(query)}"

    async def _token_request(
        self, provider: Provider, form: dict[str, str], refused: Exception
    ) -> dict[str, Any]:
        """POST `form` to the token endpoint; `refused` is raised when the provider says no,
        SignInError when it does not answer."""
        # a confidential client authenticates with HTTP Basic; a public one by PKCE alone
        auth = httpx.BasicAuth(self.client_id, self._client_secret) if self._client_secret else None
        try:
            answer = await self._http.post(
                provider.token_endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.HTTPError as exc:
            raise SignInError("the identity provider does not answer") from exc
        if answer.status_code != 200:
            raise refused
        body: dict[str, Any] = answer.json()
        return body

    async def exchange(self, attempt: Attempt, code: str) -> Tokens:
        """The code for tokens (with the PKCE verifier); the ID token checked, nonce included."""
        provider = await self.provider()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": attempt.code_verifier,
        }
        body = await self._token_request(
            provider, form, SignInError("the identity provider refused the sign-in")
        )
        if not isinstance(body.get("access_token"), str) or not isinstance(
            body.get("id_token"), str
        ):
            raise SignInError("the identity provider gave no tokens")
        await self._check_id_token(provider, body["id_token"], attempt.nonce)
        return Tokens(
            access_token=body["access_token"],
            id_token=body["id_token"],
            expires_in=int(body.get("expires_in", 3600)),
            refresh_token=_text(body.get("refresh_token")),
        )

    async def refresh(self, refresh_token: str, id_token: str) -> Tokens:
        """A new access token for a long session (RFC 6749 §6). The provider may rotate the
        refresh token; an ID token in the answer is checked as at sign-in, else the session's
        stays (OIDC Core §12.2). Refused or unreachable: SignInError."""
        provider = await self.provider()
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }
        body = await self._token_request(
            provider, form, RefreshRefused("the identity provider refused the refresh")
        )
        if not isinstance(body.get("access_token"), str):
            raise SignInError("the identity provider gave no access token")
        new_id_token = _text(body.get("id_token"))
        if new_id_token is not None:
            await self._check_id_token(provider, new_id_token, None)
        return Tokens(
            access_token=body["access_token"],
            id_token=new_id_token or id_token,
            expires_in=int(body.get("expires_in", 3600)),
            refresh_token=_text(body.get("refresh_token")) or refresh_token,
        )

    async def _check_id_token(self, provider: Provider, id_token: str, nonce: str | None) -> None:
        """Signature, issuer, audience, expiry; the nonce at sign-in (a refreshed ID token
        carries none: OIDC Core §12.2)."""
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError as exc:
            raise SignInError("the identity provider's ID token is not valid") from exc
        if not isinstance(kid, str):
            raise SignInError("the identity provider's ID token names no key")
        key = await self._signing_key(provider, kid, fresh=False)
        try:
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=[key.algorithm_name]
                if key.algorithm_name in ID_TOKEN_ALGORITHMS
                else [],
                audience=self.client_id,
                issuer=provider.issuer,
                leeway=30,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInError("the identity provider's ID token is not valid") from exc
        if nonce is not None and not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInError("the sign-in was not the one this browser started")

    async def logout_url(self, id_token: str | None, after: str) -> str | None:
        """The provider's end-session URL (RP-initiated logout), when it has one."""
        try:
            provider = await self.provider()
        except SignInError:
            return None
        if provider.end_session_endpoint is None:
            return None
        query = {"post_logout_redirect_uri": after, "client_id": self.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{provider.end_session_endpoint}?{urlencode(query)}"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
