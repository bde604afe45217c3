"""A service's own database role for tests of row-level security: neither superuser nor owner,
granted its schema's rows the way `signaalpunt-migrate all --grant` grants them in a deployment.
"""

from __future__ import annotations

import asyncpg
from signaalpunt_runtime.migrations import grant_schema
from signaalpunt_runtime.settings import with_query

_CREATE = """
DO $$ BEGIN
    CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- another module made it
END $$;
"""


async def service_role_dsn(database_url: str, schema: str) -> str:
    """The DSN of `database_url` as the service's role (named after its schema, as in a
    deployment); the schema must be migrated already. Roles belong to the cluster, grants to the
    database: every test database grants again."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_CREATE.format(role=schema))
    finally:
        await conn.close()
    if not await grant_schema(database_url, schema, schema):
        raise AssertionError(f"role {schema} was not created")
    return with_query(database_url, {"role": schema})
