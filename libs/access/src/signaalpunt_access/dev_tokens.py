"""`signaalpunt-tokens`: a development key pair and tokens for the local system (never production).

    signaalpunt-tokens keygen                       .local/dev-auth/{signing-key.pem,jwks.json}
    signaalpunt-tokens mint --kind partner --subject urn:signaalpunt:partner:huisarts-terneuzen \\
        --municipality GM0715 --channel partner_event --partner-type huisarts
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)

DEV_DIR = Path(".local/dev-auth")
DEV_ISSUER = "https://auth.signaalpunt.local"
AUDIENCE = "signaalpunt"


def generate_key_pair(directory: Path) -> str:
    """Write an EC P-256 signing key and its JWKS; returns the key id."""
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"dev-{uuid.uuid4().hex[:8]}"
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (directory / "signing-key.pem").write_bytes(pem)
    (directory / "signing-key.pem").chmod(0o600)
    public: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    public |= {"kid": kid, "use": "sig", "alg": "ES256"}
    (directory / "jwks.json").write_text(json.dumps({"keys": [public]}, indent=2) + "\n")
    (directory / "kid").write_text(kid)
    return kid


def mint(
    directory: Path,
    *,
    subject: str,
    kind: str,
    municipalities: Sequence[str],
    roles: Sequence[str] = (),
    channels: Sequence[str] = (),
    partner_type: str | None = None,
    name: str = "",
    ttl_seconds: int = 3600,
    issuer: str = DEV_ISSUER,
    audience: str = AUDIENCE,
    now: int | None = None,
) -> str:
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "name": name,
        "signaalpunt/kind": kind,
        "signaalpunt/municipalities": list(municipalities),
        "signaalpunt/roles": list(roles),
        "signaalpunt/channels": list(channels),
    }
    if partner_type:
        claims["signaalpunt/partner_type"] = partner_type
    key = (directory / "signing-key.pem").read_bytes()
    kid = (directory / "kid").read_text()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


@app.command("keygen")
def keygen_command(directory: Path = DEV_DIR) -> None:
    """Create the development signing key and JWKS (services read the JWKS)."""
    kid = generate_key_pair(directory)
    typer.echo(f"wrote {directory}/signing-key.pem and {directory}/jwks.json (kid {kid})")


@app.command("mint")
def mint_command(  # noqa: PLR0917 - one parameter per command-line option
    subject: str = typer.Option(..., help="e.g. urn:signaalpunt:partner:jumbo-terneuzen"),
    kind: str = typer.Option(..., help="partner, staff or service"),
    municipality: list[str] = typer.Option(..., help="CBS code; repeat for several"),
    role: list[str] = typer.Option([], help="repeat for several"),
    channel: list[str] = typer.Option([], help="repeat for several"),
    partner_type: str | None = typer.Option(None),
    name: str = typer.Option(""),
    ttl: int = typer.Option(3600, help="seconds"),
    directory: Path = DEV_DIR,
) -> None:
    """Print a signed development token."""
    if not (directory / "signing-key.pem").exists():
        generate_key_pair(directory)
    typer.echo(
        mint(
            directory,
            subject=subject,
            kind=kind,
            municipalities=municipality,
            roles=role,
            channels=channel,
            partner_type=partner_type,
            name=name,
            ttl_seconds=ttl,
        )
    )
