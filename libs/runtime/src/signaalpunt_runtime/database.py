"""PostgreSQL access for a service: an asyncpg pool confined to the service's own schema."""

from __future__ import annotations

import json
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection of its own or one borrowed from the pool: handlers accept either."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, schema: str, *, size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog): no service reads another's
    tables by accident. The schema must exist (migrations create it)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        server_settings={"search_path": schema, "application_name": schema},
    )
    assert pool is not None
    return pool
