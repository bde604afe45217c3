"""A service's own database role for tests of row-level security: neither superuser nor owner,
granted its schema's rows the way `signaalpunt-migrate all --grant` grants them in a deployment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.migrations import ensure_role, grant_schema
from signaalpunt_runtime.settings import with_query
from signaalpunt_runtime.tenancy import database_scope, scope_of


async def service_role_dsn(database_url: str, schema: str) -> str:
    """The DSN of `database_url` as the service's role (named after its schema, as in a
    deployment); the schema must be migrated already. Roles belong to the cluster, grants to the
    database: every test database grants again."""
    await ensure_role(database_url, schema)
    if not await grant_schema(database_url, schema, schema):
        raise AssertionError(f"role {schema} was not created")
    return with_query(database_url, {"role": schema})


# The property every service's row-level security is tested for: whatever municipalities the
# rows belong to and whichever the caller may see, a connection scoped to the caller's reads,
# changes and writes only theirs.
TENANTS = ("GM0715", "GM0716", "GM0677", "GM0654")

T = TypeVar("T")


def for_any_tenants(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run `test(..., municipalities, scope)` for many plantings and scopes (hypothesis):
    `municipalities` one entry per planted row, `scope` the caller's municipalities."""
    planted = given(
        municipalities=st.lists(st.sampled_from(TENANTS), max_size=8),
        scope=st.sets(st.sampled_from(TENANTS)),
    )(test)
    return settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )(planted)


def mine_and_theirs(planted: Mapping[T, str], scope: Collection[str]) -> tuple[set[T], set[T]]:
    """The planted keys the scope may see, and the others."""
    mine = {key for key, municipality in planted.items() if municipality in scope}
    return mine, set(planted) - mine


def others(scope: Collection[str]) -> list[str]:
    """The test municipalities the scope does not include."""
    return [code for code in TENANTS if code not in scope]


@asynccontextmanager
async def scoped_connection(
    pool: asyncpg.Pool, scope: Collection[str]
) -> AsyncIterator[DbConnection]:
    """A connection of the service's pool scoped to `scope`, as a staff request's would be."""
    token = database_scope.set(scope_of(scope))
    try:
        async with pool.acquire() as conn:
            yield conn
    finally:
        database_scope.reset(token)
