"""The partner registry's SQL (schema `intake`): partners, and the audit trail of every change."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import asyncpg
from signaalpunt_contracts import PARTNERS_LISTED, Envelope, PartnerListedV1
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.outbox import outbox_row, write_outbox_rows

from .domain import Partner

_COLUMNS = (
    "urn, name, partner_type, municipalities, signing_keys::text AS signing_keys,"
    " webhook_url, contact, active"
)


def _partner(row: asyncpg.Record) -> Partner:
    return Partner(
        urn=row["urn"],
        name=row["name"],
        partner_type=row["partner_type"],
        municipalities=tuple(row["municipalities"]),
        signing_keys=tuple(json.loads(row["signing_keys"])["keys"]),
        webhook_url=row["webhook_url"],
        contact=row["contact"],
        active=row["active"],
    )


SCHEMA = "intake"
LISTINGS = UUID("0b6f3a52-8c1e-4f0a-9d8e-5c2b7a41e9d3")
"""Namespace of a listing's event id: one per partner and change, so publishing the registry
again at start adds nothing the topic already has."""


def listing(partner: Partner, changed_at: datetime) -> Envelope[PartnerListedV1]:
    """The registry entry as other services may see it: no keys, no contact."""
    data = PartnerListedV1(
        partner=partner.urn,
        name=partner.name,
        partner_type=partner.partner_type,
        municipalities=partner.municipalities,
        webhook_url=partner.webhook_url,
        active=partner.active,
        changed_at=changed_at,
    )
    event = Envelope.new(data, municipality=partner.municipalities[0], producer="intake")
    event_id = uuid5(LISTINGS, f"{partner.urn}\x1f{changed_at.isoformat()}")
    return event.model_copy(update={"event_id": event_id})


async def publish_listings(conn: DbConnection, urns: list[str] | None = None) -> None:
    """Stage the listing of each partner (or of `urns`) in the caller's transaction."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, updated_at FROM partners"  # noqa: S608
        " WHERE $1::text[] IS NULL OR urn = ANY($1::text[]) ORDER BY urn",
        urns,
    )
    await write_outbox_rows(
        conn,
        SCHEMA,
        [
            outbox_row(PARTNERS_LISTED, listing(p, r["updated_at"]), key=p.urn)
            for r in rows
            if (p := _partner(r)).municipalities
        ],
    )


def _as_json(partner: Partner | None) -> str | None:
    return json.dumps(asdict(partner)) if partner else None


def check(partner: Partner) -> None:
    """What the registry refuses: keys that are private, nameless or duplicated."""
    if not partner.urn.startswith("urn:signaalpunt:partner:"):
        raise ValueError("a partner's URN starts with urn:signaalpunt:partner:")
    kids = [k.get("kid") for k in partner.signing_keys]
    if any(not kid for kid in kids) or len(set(kids)) != len(kids):
        raise ValueError("every signing key needs its own kid")
    if any("d" in k or "p" in k for k in partner.signing_keys):
        raise ValueError("a signing key in the registry must be public (no private part)")


async def all_partners(conn: DbConnection) -> list[Partner]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM partners ORDER BY urn")  # noqa: S608
    return [_partner(r) for r in rows]


async def find(conn: DbConnection, urn: str) -> Partner | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM partners WHERE urn = $1", urn)  # noqa: S608
    return _partner(row) if row else None


async def save(conn: DbConnection, partner: Partner, *, actor: str, action: str) -> None:
    """Add or change a partner, with the audit row, in one transaction."""
    check(partner)
    async with conn.transaction():
        before = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM partners WHERE urn = $1 FOR UPDATE",  # noqa: S608
            partner.urn,
        )
        await conn.execute(
            "INSERT INTO partners (urn, name, partner_type, municipalities, signing_keys,"
            " webhook_url, contact, active, updated_at)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, now())"
            " ON CONFLICT (urn) DO UPDATE SET name = $2, partner_type = $3, municipalities = $4,"
            " signing_keys = $5::jsonb, webhook_url = $6, contact = $7, active = $8,"
            " updated_at = now()",
            partner.urn,
            partner.name,
            partner.partner_type,
            list(partner.municipalities),
            json.dumps({"keys": list(partner.signing_keys)}),
            partner.webhook_url,
            partner.contact,
            partner.active,
        )
        await conn.execute(
            "INSERT INTO partner_audit (actor, action, urn, before, after)"
            " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)",
            actor,
            action,
            partner.urn,
            _as_json(_partner(before) if before else None),
            _as_json(partner),
        )
        # the services that act for partners hear of the change through the outbox
        await publish_listings(conn, [partner.urn])


async def history(conn: DbConnection, urn: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT at, actor, action, before::text AS before, after::text AS after"
        " FROM partner_audit WHERE urn = $1 ORDER BY id",
        urn,
    )
    return [
        {
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "before": json.loads(r["before"]) if r["before"] else None,
            "after": json.loads(r["after"]) if r["after"] else None,
        }
        for r in rows
    ]
