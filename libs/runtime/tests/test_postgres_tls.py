"""PostgreSQL TLS settings reach every connection a service opens: the pool and the migrations.

The local PostgreSQL has no TLS, so `sslmode=require` must make both refuse to connect (a
setting that went nowhere would connect in plain text), and `sslmode=disable` must connect."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.database import create_pool
from signaalpunt_runtime.migrations import upgrade_async

pytestmark = pytest.mark.infra

MIGRATIONS = Path(__file__).resolve().parent / "apps" / "migrations"


def _settings(dsn: str, sslmode: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="tls-check",
        database_url=SecretStr(dsn),
        database_sslmode=sslmode,
    )


def test_the_settings_put_tls_into_the_dsn() -> None:
    settings = ServiceSettings(
        service_name="tls-check",
        database_url=SecretStr("postgresql://u:p@db:5432/signaalpunt?application_name=x"),
        database_sslmode="verify-full",
        database_sslrootcert=Path("/etc/signaalpunt/postgres-ca.crt"),
    )
    dsn = settings.database_url.get_secret_value()
    assert dsn.startswith("postgresql://u:p@db:5432/signaalpunt?")
    assert "sslmode=verify-full" in dsn
    assert "sslrootcert=/etc/signaalpunt/postgres-ca.crt" in dsn
    assert "application_name=x" in dsn


async def test_required_tls_is_refused_by_a_server_without_it(database_url: str) -> None:
    dsn = _settings(database_url, "require").database_url.get_secret_value()
    with pytest.raises(Exception, match=r"(?i)ssl"):
        await create_pool(dsn, "public", size=1)
    with pytest.raises(Exception, match=r"(?i)ssl"):
        await upgrade_async(MIGRATIONS, dsn, "tls_check")


async def test_tls_disabled_connects(database_url: str) -> None:
    dsn = _settings(database_url, "disable").database_url.get_secret_value()
    pool = await create_pool(dsn, "public", size=1)
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_the_migration_command_takes_its_dsn_and_tls_from_files_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from signaalpunt_runtime.migrations import _dsn

    owner = tmp_path / "uri"
    owner.write_text("postgresql://signaalpunt:pw@signaalpunt-pg-rw:5432/signaalpunt\n")
    monkeypatch.delenv("SIGNAALPUNT_MIGRATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SIGNAALPUNT_MIGRATE_DATABASE_URL_FILE", str(owner))
    monkeypatch.setenv("SIGNAALPUNT_MIGRATE_DATABASE_SSLMODE", "verify-full")
    monkeypatch.setenv("SIGNAALPUNT_MIGRATE_DATABASE_SSLROOTCERT", "/etc/ca.crt")
    assert _dsn() == (
        "postgresql://signaalpunt:pw@signaalpunt-pg-rw:5432/signaalpunt"
        "?sslmode=verify-full&sslrootcert=/etc/ca.crt"
    )
