"""Migrations: Alembic, one schema per service, the same way for every service.

A service keeps its revisions in `services/<name>/migrations/` whose `env.py` is just

    from signaalpunt_runtime.migrations import run_env
    run_env()

They are applied at start-up (`migrate_on_start`, the default), or as a step of their own before
the services start (`make migrate`, the compose `migrate` job, the Kubernetes migration Job; then
run the services with `SIGNAALPUNT_<SERVICE>_MIGRATE_ON_START=false`):

    signaalpunt-migrate all                 # the key store and every installed service
    signaalpunt-migrate all --grant         # … and grant each service's role its own schema
    signaalpunt-migrate all --grant --create-roles   # locally: the roles made first (NOLOGIN)
    signaalpunt-migrate upgrade services/<name>/src/signaalpunt_<name>/migrations --schema <name>

`all` finds what to migrate through the `signaalpunt.migrations` entry points that each service
(and libs/privacy, for the shared key store) declares in its pyproject.toml, so an installed
image needs no source tree and a new service is migrated once it declares its entry point.

Revisions are plain SQL run with `run_sql("...")` (several statements at once, in the revision's
transaction): SQL stays SQL, no ORM models. Several replicas starting
at once are safe: the upgrade runs under a Postgres advisory lock per schema, and the Alembic
version table lives in the service's schema.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import asyncpg
import typer
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .settings import from_file_variable, with_query


def run_sql(sql: str) -> None:
    """Run a SQL script (several statements) inside the running revision's transaction.

    `op.execute` prepares its statement, and PostgreSQL cannot prepare more than one; the driver's
    simple-query protocol can, on the very connection (and transaction) Alembic is using.
    """
    from alembic import op  # noqa: PLC0415 - only importable while Alembic runs a revision
    from sqlalchemy.util import await_only  # noqa: PLC0415

    driver = op.get_bind().connection.driver_connection
    if driver is None:
        raise RuntimeError("no database connection: run_sql only works inside a revision")
    await_only(driver.execute(sql))


def alembic_config(script_location: Path, dsn: str, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["dsn"] = dsn
    config.attributes["schema"] = schema
    return config


# Alembic keeps its running context in module globals: one migration per process at a time
# (replicas are separate processes; those are kept apart by the advisory lock in run_env).
_ONE_AT_A_TIME = threading.Lock()


def upgrade(script_location: Path, dsn: str, schema: str, revision: str = "head") -> None:
    with _ONE_AT_A_TIME:
        command.upgrade(alembic_config(script_location, dsn, schema), revision)


def downgrade(script_location: Path, dsn: str, schema: str, revision: str) -> None:
    with _ONE_AT_A_TIME:
        command.downgrade(alembic_config(script_location, dsn, schema), revision)


async def upgrade_async(script_location: Path, dsn: str, schema: str) -> None:
    """For a running event loop: Alembic is synchronous, so it runs in a worker thread."""
    await asyncio.to_thread(upgrade, script_location, dsn, schema)


def run_env() -> None:
    """The body of every service's `migrations/env.py`."""
    from alembic import context  # noqa: PLC0415 - only importable while Alembic runs env.py

    config = context.config
    dsn: str = config.attributes.get("dsn") or os.environ["SIGNAALPUNT_DATABASE_URL"]
    schema: str = config.attributes.get("schema") or os.environ["SIGNAALPUNT_MIGRATION_SCHEMA"]

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            version_table_schema=schema,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        # asyncpg gets the DSN itself, with its TLS parameters (sslmode, sslrootcert, …), which
        # SQLAlchemy's URL translation would not pass on
        engine = create_async_engine(
            "postgresql+asyncpg://",
            async_creator=lambda: asyncpg.connect(dsn),
            poolclass=NullPool,
        )
        try:
            async with engine.connect() as conn:
                # one migrator per schema at a time, whichever replica starts first
                await conn.execute(
                    text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"migrate:{schema}"}
                )
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                await conn.exec_driver_sql(f'SET search_path TO "{schema}"')
                await conn.commit()
                await conn.run_sync(migrate)
                await conn.commit()
                await conn.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"migrate:{schema}"}
                )
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) mode is not used in this project")
    asyncio.run(run())


app = typer.Typer(add_completion=False, help="Apply a service's migrations to its schema.")


def _dsn() -> str:
    """The migrating role's DSN: `SIGNAALPUNT_MIGRATE_DATABASE_URL` (a role that may create
    schemas), else the shared `SIGNAALPUNT_DATABASE_URL`; either also from a `…_FILE`. TLS:
    `SIGNAALPUNT_MIGRATE_DATABASE_SSLMODE`, `…_SSLROOTCERT`, `…_SSLCERT`, `…_SSLKEY`."""
    dsn = "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt"
    for name in ("SIGNAALPUNT_MIGRATE_DATABASE_URL", "SIGNAALPUNT_DATABASE_URL"):
        value = from_file_variable(name)
        if value:
            dsn = value
            break
    tls = {
        parameter: os.environ[f"SIGNAALPUNT_MIGRATE_DATABASE_{parameter.upper()}"]
        for parameter in ("sslmode", "sslrootcert", "sslcert", "sslkey")
        if os.environ.get(f"SIGNAALPUNT_MIGRATE_DATABASE_{parameter.upper()}")
    }
    return with_query(dsn, tls) if tls else dsn


ENTRY_POINTS = "signaalpunt.migrations"
KEY_STORE = "subject_keys"


@dataclass(frozen=True)
class MigrationSet:
    """One schema's migrations: a service's own, or the shared key store."""

    name: str
    """The entry point's name: the service (or `subject_keys`)."""
    path: Path
    schema: str


def _schema_for(name: str) -> str:
    # the same override a service itself reads: SIGNAALPUNT_<SERVICE>_DATABASE_SCHEMA
    variable = f"SIGNAALPUNT_{name.upper().replace('-', '_')}_DATABASE_SCHEMA"
    return os.environ.get(variable) or name.replace("-", "_")


def discover() -> list[MigrationSet]:
    """Every installed migration set, the shared key store first, then services by name."""
    found: list[MigrationSet] = []
    for point in entry_points(group=ENTRY_POINTS):
        value = point.load()
        if isinstance(value, ModuleType):  # the migrations folder itself (imports no app code)
            path, schema = Path(next(iter(value.__path__))), _schema_for(point.name)
        elif isinstance(value, tuple):  # (path, schema)
            path, schema = Path(value[0]), str(value[1])
        else:
            path, schema = Path(value), _schema_for(point.name)
        if not (path / "env.py").is_file():
            raise RuntimeError(f"{point.name}: {path} holds no Alembic env.py")
        found.append(MigrationSet(point.name, path, schema))
    return sorted(found, key=lambda m: (m.schema != KEY_STORE, m.name))


_ROLE = re.compile(r"^[a-z_][a-z0-9_]*$")

_GRANTS = """
GRANT USAGE ON SCHEMA "{schema}" TO "{role}";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}";
ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}";
ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "{role}";
"""


_CREATE_ROLE = """
DO $$ BEGIN
    CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made meanwhile by another
END $$;
"""


async def ensure_role(dsn: str, role: str) -> None:
    """A role a service runs as where no platform makes one (a local cluster, tests): no login,
    no superuser, no `BYPASSRLS`; the connecting user takes it with `SET ROLE` (`?role=` in the
    service's DSN). A deployment creates its login roles itself (compose, the operator)."""
    if not _ROLE.match(role):
        raise ValueError(f"not a plain SQL name: {role!r}")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_CREATE_ROLE.format(role=role))
    finally:
        await conn.close()


async def grant_schema(dsn: str, schema: str, role: str) -> bool:
    """Give `role` the rows of `schema` (and nothing else): the role a service runs as, while the
    migrating role keeps ownership (DDL). False when the role does not exist (nothing granted)."""
    if not _ROLE.match(role) or not _ROLE.match(schema):
        raise ValueError(f"not a plain SQL name: {role!r} / {schema!r}")
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role):
            return False
        await conn.execute(_GRANTS.format(schema=schema, role=role))
        return True
    finally:
        await conn.close()


@app.command("all")
def all_cli(
    grant: bool = typer.Option(
        False, help="grant each schema's rows to the role of the same name (when it exists)"
    ),
    role_prefix: str = typer.Option("", help="role name = prefix + schema"),
    create_roles: bool = typer.Option(
        False, help="with --grant: create each service's role first (local clusters; NOLOGIN)"
    ),
) -> None:
    """Migrate the shared key store and every installed service to their newest revision."""
    if not discover():
        typer.echo("no migrations installed (no `signaalpunt.migrations` entry points)", err=True)
        raise typer.Exit(code=1)
    migrate_all(
        _dsn(), grant=grant, role_prefix=role_prefix, create_roles=create_roles, say=typer.echo
    )


def migrate_all(
    dsn: str,
    *,
    grant: bool = False,
    role_prefix: str = "",
    create_roles: bool = False,
    say: Callable[[str], object] = print,
) -> list[str]:
    """Every installed migration set to its newest revision; with `grant`, each schema granted
    to the role of its name (`role_prefix` + schema: each service's, and the key store's
    `subject_keys`), with `create_roles` made first. Returns the schemas."""
    sets = discover()
    for migration in sets:
        say(f"migrating {migration.schema} ({migration.name})")
        upgrade(migration.path, dsn, migration.schema)
        if grant:
            role = role_prefix + migration.schema
            if create_roles:
                asyncio.run(ensure_role(dsn, role))
            granted = asyncio.run(grant_schema(dsn, migration.schema, role))
            say(f"  {'granted to' if granted else 'no role'} {role}")
    say(f"migrated {len(sets)} schemas: {', '.join(m.schema for m in sets)}")
    return [m.schema for m in sets]


@app.command("list")
def list_cli() -> None:
    """The migration sets `all` would apply, with their schemas and folders."""
    for migration in discover():
        typer.echo(f"{migration.schema}\t{migration.name}\t{migration.path}")


@app.command("upgrade")
def upgrade_cli(
    migrations: Path = typer.Argument(..., exists=True, file_okay=False),
    schema: str = typer.Option(..., help="the service's schema"),
    revision: str = "head",
) -> None:
    """Upgrade the schema to `revision` (default: the newest)."""
    upgrade(migrations, _dsn(), schema, revision)


@app.command("downgrade")
def downgrade_cli(
    migrations: Path = typer.Argument(..., exists=True, file_okay=False),
    schema: str = typer.Option(...),
    revision: str = typer.Option(...),
) -> None:
    """Downgrade the schema to `revision` (e.g. base)."""
    downgrade(migrations, _dsn(), schema, revision)


if __name__ == "__main__":
    app()
