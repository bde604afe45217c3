"""PostgreSQL access for a service: an asyncpg pool confined to the service's own schema."""

from __future__ import annotations

import json
import weakref
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .tenancy import EVERYTHING, SCOPE_SETTING, database_scope

DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection of its own or one borrowed from the pool: handlers accept either."""


_scoped: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
"""The municipality scope each connection has now, for connections row-level security binds
(a superuser or BYPASSRLS role is not in here: setting a scope there would change nothing)."""

_HELD_TO_RLS = """
SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user
"""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    if await conn.fetchval(_HELD_TO_RLS):
        await conn.execute(f"SELECT set_config('{SCOPE_SETTING}', '{EVERYTHING}', false)")
        _scoped[conn] = EVERYTHING


async def _scope_connection(proxy: PoolConnectionProxy[asyncpg.Record]) -> None:
    """On every acquire: the request's municipalities (see `tenancy`), one round trip only when
    they differ from what the connection had."""
    conn = proxy._con  # type: ignore[attr-defined]  # the pooled connection: its scope stays
    had = _scoped.get(conn)
    if had is None:
        return
    wanted = database_scope.get()
    if wanted != had:
        await proxy.execute("SELECT set_config($1, $2, false)", SCOPE_SETTING, wanted)
        _scoped[conn] = wanted


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without the default reset query (RESET ALL, UNLISTEN *, …): one round trip less
    per request. Safe because service code never changes session state on pool connections: the
    schema comes from the connection's startup settings, and LISTEN and advisory locks live on
    connections of their own (outbox relay, migrations)."""


async def create_pool(dsn: str, schema: str, *, size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog): no service reads another's
    tables by accident. The schema must exist (migrations create it)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        setup=_scope_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": schema},
    )
    assert pool is not None
    return pool
