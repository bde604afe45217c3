"""Checking bearer tokens (JWTs) against a JWKS: the one way every HTTP service authenticates.

In production the tokens come from the consortium's identity provider (OAuth2 client credentials
for partner systems, OIDC for staff); locally `signaalpunt-tokens` mints them. The verifier accepts
only asymmetric algorithms, requires `exp`, `iat`, `sub`, issuer and audience, and maps the
Signaalpunt claims onto a `Principal`:

    {"sub": "...", "iss": "...", "aud": "signaalpunt", "exp": ..., "iat": ...,
     "signaalpunt/kind": "partner", "name": "...", "signaalpunt/municipalities": ["GM0715"],
     "signaalpunt/roles": ["coordinator"], "signaalpunt/channels": ["partner_event"],
     "signaalpunt/partner_type": "huisarts"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from pydantic import ValidationError

from .principal import AuthenticationError, Principal

ALGORITHMS = ["ES256", "RS256", "EdDSA"]
CLAIM = "signaalpunt/"


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        leeway_seconds: int = 30,
        jwks_refresh_cooldown: float = 30,
    ) -> None:
        if (jwks_url is None) == (jwks is None):
            raise ValueError("configure exactly one of jwks_url or jwks")
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        # PyJWKClient caches the key set and fetches it again for an unknown kid (key rotation),
        # at most once per cooldown, so tokens with made-up kids cannot hammer the provider
        self._client = (
            jwt.PyJWKClient(
                jwks_url, cache_keys=True, timeout=5, cooldown_duration=jwks_refresh_cooldown
            )
            if jwks_url
            else None
        )
        self._static = jwt.PyJWKSet.from_dict(jwks) if jwks else None

    @classmethod
    def from_jwks_file(cls, path: Path, *, issuer: str, audience: str) -> TokenVerifier:
        return cls(issuer=issuer, audience=audience, jwks=json.loads(path.read_text()))

    @classmethod
    def configured(
        cls, *, jwks_url: str | None, jwks_file: Path, issuer: str, audience: str
    ) -> TokenVerifier:
        """The identity provider's JWKS by URL when one is set (cached; fetched again for a new
        key id, so a key rotation needs no restart), else the key set in `jwks_file`."""
        if jwks_url:
            return cls(issuer=issuer, audience=audience, jwks_url=jwks_url)
        return cls.from_jwks_file(jwks_file, issuer=issuer, audience=audience)

    def _key(self, token: str) -> jwt.PyJWK:
        """The JWK the token names, and only if the token claims that key's own algorithm: a
        header may name a published key with another algorithm (`RS256` with an EC key), which
        the signature check must never see."""
        try:
            header = jwt.get_unverified_header(token)
        except Exception as exc:
            raise AuthenticationError("malformed token") from exc
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not isinstance(algorithm, str):
            raise AuthenticationError("malformed token")
        try:
            if self._client is not None:
                key = self._client.get_signing_key(kid)
            else:
                assert self._static is not None
                key = self._static[kid]
        except (KeyError, jwt.PyJWTError) as exc:
            raise AuthenticationError("token signed with an unknown key") from exc
        if algorithm not in ALGORITHMS or algorithm != key.algorithm_name:
            raise AuthenticationError("invalid token")
        return key

    def verify(self, authorization: str | None) -> Principal:
        """`authorization` is the Authorization header; returns the principal or raises 401."""
        if not authorization:
            raise AuthenticationError("no bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        key = self._key(token)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("token not meant for this audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("token from an unknown issuer") from exc
        except Exception as exc:
            # the library's message stays in the server's log context, not in the answer
            raise AuthenticationError("invalid token") from exc
        try:
            return Principal.model_validate(
                {
                    "subject": claims["sub"],
                    "kind": claims.get(f"{CLAIM}kind"),
                    "name": claims.get("name", ""),
                    "municipalities": claims.get(f"{CLAIM}municipalities", []),
                    "roles": claims.get(f"{CLAIM}roles", []),
                    "channels": claims.get(f"{CLAIM}channels", []),
                    "partner_type": claims.get(f"{CLAIM}partner_type"),
                }
            )
        except ValidationError as exc:
            raise AuthenticationError("token lacks the Signaalpunt claims") from exc
