"""`signaalpunt-partners`: the consortium's partner registry (intake's database), every change
audited with who made it. Intake takes a change within `partner_registry_refresh` seconds.

signaalpunt-partners add URN --name N --type huisarts --municipality GM0715 --keys partner.jwks
                         --actor "j.jansen (functioneel beheer)" [--webhook URL] [--contact C]
signaalpunt-partners keys URN --keys partner.jwks --actor A     the partner's new key set
signaalpunt-partners deactivate URN --actor A                   its events are refused from now
signaalpunt-partners activate URN --actor A
signaalpunt-partners list
signaalpunt-partners history URN                                the audit trail
signaalpunt-partners import partners.yaml --keys-dir DIR --actor A   (development seed)

Keys are the partner's public JWKS (or one JWK), each with its `kid`. The database is
SIGNAALPUNT_INTAKE_DATABASE_URL, else SIGNAALPUNT_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
import yaml
from rich.console import Console
from rich.table import Table
from signaalpunt_privacy.partner_encryption import public_key
from signaalpunt_runtime.migrations import upgrade_async

from . import partner_repository as repository
from .domain import Partner

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(width=120)
T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

Actor = Annotated[str, typer.Option(help="who makes the change (kept in the audit trail)")]


def _database_url() -> str:
    return os.environ.get("SIGNAALPUNT_INTAKE_DATABASE_URL") or os.environ.get(
        "SIGNAALPUNT_DATABASE_URL",
        "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt",
    )


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        # the registry's tables are intake's: made here too, so partners can be registered
        # before intake first starts
        await upgrade_async(MIGRATIONS, _database_url(), "intake")
        conn = await asyncpg.connect(_database_url(), server_settings={"search_path": "intake"})
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def read_keys(path: Path) -> tuple[dict[str, Any], ...]:
    """A partner's public keys from a JWKS or JWK file (a private key's public half is taken)."""
    data = json.loads(path.read_text())
    return tuple(public_key(k) for k in data.get("keys", [data]))


async def _change(
    conn: asyncpg.Connection, urn: str, actor: str, action: str, **changes: Any
) -> None:
    partner = await repository.find(conn, urn)
    if partner is None:
        raise typer.BadParameter(f"no partner {urn} in the registry")
    await repository.save(conn, replace(partner, **changes), actor=actor, action=action)


@app.command()
def add(
    urn: str,
    *,
    name: Annotated[str, typer.Option()],
    partner_type: Annotated[str, typer.Option("--type", help="huisarts, wmo, supermarkt, …")],
    municipality: Annotated[list[str], typer.Option(help="GM code; repeat for several")],
    keys: Annotated[Path, typer.Option(help="the partner's public JWKS (or JWK)")],
    actor: Actor,
    webhook: Annotated[str | None, typer.Option(help="where rejections are delivered")] = None,
    contact: Annotated[str | None, typer.Option(help="a functional mailbox or desk")] = None,
) -> None:
    """Add a partner (or replace its entry)."""
    partner = Partner(
        urn=urn,
        name=name,
        partner_type=partner_type,
        municipalities=tuple(municipality),
        signing_keys=read_keys(keys),
        webhook_url=webhook,
        contact=contact,
    )
    _run(lambda conn: repository.save(conn, partner, actor=actor, action="add"))
    console.print(f"added {urn}")


@app.command(name="keys")
def set_keys(
    urn: str,
    keys: Annotated[
        Path, typer.Option(help="the partner's public JWKS: old and new during a rotation")
    ],
    actor: Actor,
) -> None:
    """Replace a partner's signing keys (a rotation: give old and new, later the new only)."""
    _run(lambda conn: _change(conn, urn, actor, "keys", signing_keys=read_keys(keys)))
    console.print(f"keys of {urn} replaced")


@app.command()
def deactivate(urn: str, actor: Actor) -> None:
    """Stop taking a partner's events (they are refused as unknown_partner)."""
    _run(lambda conn: _change(conn, urn, actor, "deactivate", active=False))
    console.print(f"{urn} deactivated")


@app.command()
def activate(urn: str, actor: Actor) -> None:
    _run(lambda conn: _change(conn, urn, actor, "activate", active=True))
    console.print(f"{urn} activated")


@app.command(name="list")
def list_partners() -> None:
    """Every partner in the registry."""
    table = Table("urn", "type", "municipalities", "keys (kid)", "active")
    for p in _run(repository.all_partners):
        kids = ", ".join(str(k.get("kid")) for k in p.signing_keys)
        table.add_row(p.urn, p.partner_type, " ".join(p.municipalities), kids, str(p.active))
    console.print(table)


@app.command()
def history(urn: str) -> None:
    """The audit trail of one partner: who changed what, when."""
    typer.echo(json.dumps(_run(lambda conn: repository.history(conn, urn)), indent=2))


@app.command(name="import")
def import_file(
    path: Path,
    keys_dir: Annotated[Path, typer.Option(help="<slug>.jwk per partner (its key or public key)")],
    actor: Actor,
) -> None:
    """Add the partners of a YAML file (a development or migration seed); unchanged entries are
    left alone."""

    partners = [
        Partner(
            urn=p["urn"],
            name=p["name"],
            partner_type=p["partner_type"],
            municipalities=tuple(p["municipalities"]),
            signing_keys=read_keys(keys_dir / f"{p['urn'].rsplit(':', 1)[-1]}.jwk"),
            webhook_url=p.get("webhook"),
            contact=p.get("contact"),
        )
        for p in yaml.safe_load(path.read_text())["partners"]
    ]

    async def work(conn: asyncpg.Connection) -> int:
        changed = 0
        for partner in partners:
            if await repository.find(conn, partner.urn) != partner:
                await repository.save(conn, partner, actor=actor, action="import")
                changed += 1
        return changed

    console.print(f"{_run(work)} partner(s) added or changed")


if __name__ == "__main__":
    app()
