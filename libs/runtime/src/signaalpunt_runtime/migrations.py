"""Migrations: Alembic, one schema per service, the same way for every service.

A service keeps its revisions in `services/<name>/migrations/` whose `env.py` is just

    from signaalpunt_runtime.migrations import run_env
    run_env()

They are applied at start-up (`migrate_on_start`, the default) or by hand:

    uv run signaalpunt-migrate upgrade services/<name>/migrations --schema <name>

Revisions are plain SQL run with `run_sql("...")` (several statements at once, in the revision's
transaction): SQL stays SQL, no ORM models. Several replicas starting
at once are safe: the upgrade runs under a Postgres advisory lock per schema, and the Alembic
version table lives in the service's schema.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import typer
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


def _sqlalchemy_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+asyncpg://" + dsn[len(prefix) :]
    return dsn


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
        engine = create_async_engine(_sqlalchemy_url(dsn), poolclass=NullPool)
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
    return os.environ.get(
        "SIGNAALPUNT_DATABASE_URL",
        "postgresql://signaalpunt:signaalpunt@127.0.0.1:55432/signaalpunt",
    )


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
