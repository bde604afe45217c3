"""Bearer tokens: valid ones become principals; every kind of bad one is refused with a reason."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from signaalpunt_access import (
    AuthenticationError,
    AuthorizationError,
    PrincipalKind,
    TokenVerifier,
)
from signaalpunt_access.dev_tokens import AUDIENCE, DEV_ISSUER, generate_key_pair, mint


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_key_pair(tmp_path)
    return tmp_path


@pytest.fixture
def verifier(keys: Path) -> TokenVerifier:
    return TokenVerifier.from_jwks_file(keys / "jwks.json", issuer=DEV_ISSUER, audience=AUDIENCE)


def partner_token(keys: Path, **overrides: object) -> str:
    claims: dict[str, object] = {
        "subject": "urn:signaalpunt:partner:huisarts-terneuzen",
        "kind": "partner",
        "municipalities": ["GM0715"],
        "channels": ["partner_event", "partner_portal"],
        "partner_type": "huisarts",
    }
    return mint(keys, **(claims | overrides))  # type: ignore[arg-type]


def test_a_valid_token_becomes_a_principal(keys: Path, verifier: TokenVerifier) -> None:
    principal = verifier.verify(f"Bearer {partner_token(keys)}")
    assert principal.subject == "urn:signaalpunt:partner:huisarts-terneuzen"
    assert principal.kind is PrincipalKind.PARTNER
    assert principal.municipalities == {"GM0715"}
    assert principal.partner_type == "huisarts"
    principal.require_municipality("GM0715")
    principal.require_channel("partner_event")
    with pytest.raises(AuthorizationError, match="GM0654"):
        principal.require_municipality("GM0654")
    with pytest.raises(AuthorizationError, match="web_form"):
        principal.require_channel("web_form")
    with pytest.raises(AuthorizationError, match="coordinator"):
        principal.require_role("coordinator")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no bearer token"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer not.a.jwt", "malformed token"),
    ],
)
def test_missing_or_malformed(verifier: TokenVerifier, header: str | None, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        verifier.verify(header)


def test_expired_wrong_audience_wrong_issuer(keys: Path, verifier: TokenVerifier) -> None:
    long_ago = int(time.time()) - 7200
    cases = {
        "token expired": partner_token(keys, now=long_ago, ttl_seconds=600),
        "not meant for this audience": partner_token(keys, audience="another-system"),
        "unknown issuer": partner_token(keys, issuer="https://evil.example"),
    }
    for reason, token in cases.items():
        with pytest.raises(AuthenticationError, match=reason):
            verifier.verify(f"Bearer {token}")


def test_forged_and_unsigned_tokens_are_refused(keys: Path, verifier: TokenVerifier) -> None:
    genuine = jwt.decode(partner_token(keys), options={"verify_signature": False})
    kid = (keys / "kid").read_text()
    forged = jwt.encode(genuine, ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid})
    with pytest.raises(AuthenticationError, match="invalid token"):
        verifier.verify(f"Bearer {forged}")
    unsigned = jwt.encode(genuine, "", algorithm="none", headers={"kid": kid})
    with pytest.raises(AuthenticationError):
        verifier.verify(f"Bearer {unsigned}")
    symmetric = jwt.encode(genuine, "x" * 32, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(AuthenticationError):
        verifier.verify(f"Bearer {symmetric}")
    other = jwt.encode(genuine, ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": "nope"})
    with pytest.raises(AuthenticationError, match="unknown key"):
        verifier.verify(f"Bearer {other}")


def test_a_token_without_signaalpunt_claims_is_refused(keys: Path, verifier: TokenVerifier) -> None:
    bare = mint(keys, subject="someone", kind="wizard", municipalities=[])
    with pytest.raises(AuthenticationError, match="lacks the Signaalpunt claims"):
        verifier.verify(f"Bearer {bare}")


@pytest.fixture
def jwks_server(keys: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(keys))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def test_jwks_over_http_follows_key_rotation(keys: Path, jwks_server: str, tmp_path: Path) -> None:
    verifier = TokenVerifier(
        issuer=DEV_ISSUER, audience=AUDIENCE, jwks_url=jwks_server, jwks_refresh_cooldown=0
    )
    assert verifier.verify(f"Bearer {partner_token(keys)}").subject.endswith("terneuzen")
    # the identity provider rotates: a new key joins the set, tokens carry the new kid
    new_dir = tmp_path / "rotated"
    generate_key_pair(new_dir)
    old = json.loads((keys / "jwks.json").read_text())["keys"]
    new = json.loads((new_dir / "jwks.json").read_text())["keys"]
    (keys / "jwks.json").write_text(json.dumps({"keys": new + old}))
    token = partner_token(new_dir)
    assert verifier.verify(f"Bearer {token}").kind is PrincipalKind.PARTNER


def test_a_configured_jwks_url_is_used_instead_of_the_file(
    keys: Path, jwks_server: str, tmp_path: Path
) -> None:
    """The services' `JWKS_URL` setting: with a URL, the (absent) file is never read."""
    verifier = TokenVerifier.configured(
        jwks_url=jwks_server,
        jwks_file=tmp_path / "not-there.json",
        issuer=DEV_ISSUER,
        audience=AUDIENCE,
    )
    assert verifier.verify(f"Bearer {partner_token(keys)}").kind is PrincipalKind.PARTNER
    by_file = TokenVerifier.configured(
        jwks_url=None, jwks_file=keys / "jwks.json", issuer=DEV_ISSUER, audience=AUDIENCE
    )
    assert by_file.verify(f"Bearer {partner_token(keys)}").kind is PrincipalKind.PARTNER


def _crafted(header: dict[str, object], payload: object, signature: bytes = b"x" * 64) -> str:
    """A token with a header and payload of the caller's choice and a made-up signature."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ".".join([part(json.dumps(header).encode()), part(body), part(signature)])


def test_crafted_headers_and_bodies_are_refused_with_a_short_reason(
    keys: Path, verifier: TokenVerifier
) -> None:
    kid = (keys / "kid").read_text()
    claims = {"sub": "x", "iss": DEV_ISSUER, "aud": AUDIENCE, "exp": 2**40, "iat": 1}
    crafted = [
        # the published EC key with an RSA algorithm: this gave a TypeError (500) before
        _crafted({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims),
        _crafted({"alg": "EdDSA", "kid": kid}, claims),
        _crafted({"alg": "ES384", "kid": kid}, claims),
        _crafted({"alg": "ES256", "kid": kid}, claims, signature=b""),
        _crafted({"alg": "ES256", "kid": kid}, claims, signature=b"\x00" * 3),
        _crafted({"alg": "ES256", "kid": ["a", "b"]}, claims),
        _crafted({"alg": "ES256", "kid": {"k": 1}}, claims),
        _crafted({"alg": ["ES256"], "kid": kid}, claims),
        _crafted({"alg": None, "kid": kid}, claims),
        _crafted({"alg": "ES256", "kid": kid, "crit": ["b64"], "b64": False}, claims),
        _crafted({"alg": "ES256", "kid": kid}, b"not json"),
        _crafted({"alg": "ES256", "kid": kid}, [1, 2, 3]),
        _crafted({"alg": "ES256", "kid": kid}, "a string"),
        _crafted({"alg": "ES256", "kid": kid}, {**claims, "exp": "tomorrow"}),
        _crafted({"alg": "ES256", "kid": kid}, {**claims, "aud": {"x": 1}}),
        "a.b.c",
        "....",
        "\u00e9\u00e9.\u00e9.\u00e9",
        "x" * 5000,
    ]
    for token in crafted:
        with pytest.raises(AuthenticationError) as refused:
            verifier.verify(f"Bearer {token}")
        reason = refused.value.reason
        # short, and saying nothing about the library or the key set behind it
        assert len(reason) <= 60, reason
        assert "Error" not in reason, reason
        assert "(" not in reason, reason
