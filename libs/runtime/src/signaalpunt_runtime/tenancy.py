"""Tenant isolation in the database: PostgreSQL row-level security per municipality.

A route already checks the municipality of whoever asks; row-level security makes the database
check it too, so a query that forgets its `WHERE municipality = …` still cannot return another
municipality's rows (issue 17).

How it fits together:

- **Policies** (a service's migration): `municipality_policy("cases")` enables and forces row-level
  security on a table with a `municipality` column; `policy_through("steps", "cases",
  "signal_id")` does the same for a table whose rows belong to a row of another one (visible when
  that row is). Forced: the table's owner is held to it as well. Adopting it in a new service is
  one migration with those two calls for its tables of personal data.
- **Scope** (per connection, the setting `signaalpunt.municipalities`): a comma-separated list of
  municipality codes, or `*` for the service itself (consumers, jobs). Unset means no rows at all:
  a connection that nobody scoped sees nothing.
- **Who sets it**: the shared token dependencies (`http_api.requires`, `bearer_principal`) put a
  staff caller's municipalities into `database_scope` for the request; the pool (`database.py`)
  sets the connection's scope from it on every acquire, only when it changed, and only on
  connections that row-level security applies to (a superuser or BYPASSRLS role is not held to
  it, so nothing is sent there). Everything else (consumers, jobs, partner and organisation
  tokens, which routes scope by their own id) runs with `*`.
- **The service role**: row-level security binds a role that is neither superuser nor owner. A
  deployment runs each service as its own role (`signaalpunt-migrate all --grant`); locally the
  DSN can name it: `…/signaalpunt?role=referral` (a startup `SET ROLE`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar

SCOPE_SETTING = "signaalpunt.municipalities"
EVERYTHING = "*"

database_scope: ContextVar[str] = ContextVar("signaalpunt_database_scope", default=EVERYTHING)
"""The municipalities the current request may see, as the setting's value."""

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_CODE = re.compile(r"^GM[0-9]{4}$")


def scope_of(municipalities: Iterable[str]) -> str:
    """The setting's value for a caller of these municipalities ('' sees nothing). What is not a
    municipality code is left out: it matches no row, and a comma in it must not add one."""
    return ",".join(sorted({m for m in municipalities if _CODE.match(m)}))


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return name


def in_scope(column: str) -> str:
    """The SQL condition: `column` is one of the connection's municipalities (or all)."""
    setting = f"current_setting('{SCOPE_SETTING}', true)"
    listed = f"{_name(column)} = ANY (string_to_array({setting}, ','))"
    return f"({setting} = '{EVERYTHING}' OR {listed})"


def municipality_policy(table: str, column: str = "municipality") -> str:
    """SQL for a migration: `table`'s rows only for connections scoped to their municipality."""
    t, condition = _name(table), in_scope(column)
    return f"""
        ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {t} FORCE ROW LEVEL SECURITY;
        CREATE POLICY municipality_scope ON {t} USING {condition} WITH CHECK {condition};
    """


def policy_through(table: str, parent: str, key: str) -> str:
    """SQL for a migration: `table`'s rows only when the `parent` row they belong to (same `key`)
    is visible; the parent's own policy decides."""
    t, p, k = _name(table), _name(parent), _name(key)
    visible = f"EXISTS (SELECT 1 FROM {p} WHERE {p}.{k} = {t}.{k})"  # noqa: S608 - plain names
    return f"""
        ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {t} FORCE ROW LEVEL SECURITY;
        CREATE POLICY municipality_scope ON {t} USING ({visible}) WITH CHECK ({visible});
    """


def drop_policy(table: str) -> str:
    t = _name(table)
    return f"""
        DROP POLICY municipality_scope ON {t};
        ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;
    """
