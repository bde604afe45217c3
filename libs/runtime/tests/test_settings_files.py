"""Secrets as files (Kubernetes Secret volumes, compose secrets) as well as variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.settings import from_file_variable


class _Settings(ServiceSettings):
    model_config = ServiceSettings.model_config | {"env_prefix": "SIGNAALPUNT_FILETEST_"}
    service_name: str = "filetest"
    api_key: SecretStr


def test_a_setting_comes_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "api-key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SIGNAALPUNT_FILETEST_API_KEY_FILE", str(secret))
    assert _Settings().api_key.get_secret_value() == "s3cret"


def test_the_variable_itself_wins_over_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "api-key"
    secret.write_text("from-file")
    monkeypatch.setenv("SIGNAALPUNT_FILETEST_API_KEY_FILE", str(secret))
    monkeypatch.setenv("SIGNAALPUNT_FILETEST_API_KEY", "from-env")
    assert _Settings().api_key.get_secret_value() == "from-env"


def test_the_shared_database_url_comes_from_a_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = tmp_path / "database-url"
    dsn.write_text("postgresql://intake:pw@db:5432/signaalpunt\n")
    monkeypatch.delenv("SIGNAALPUNT_DATABASE_URL", raising=False)
    monkeypatch.setenv("SIGNAALPUNT_DATABASE_URL_FILE", str(dsn))
    monkeypatch.setenv("SIGNAALPUNT_FILETEST_API_KEY", "x")
    assert from_file_variable("SIGNAALPUNT_DATABASE_URL") == str(dsn.read_text()).strip()
    assert _Settings().database_url.get_secret_value().startswith("postgresql://intake:pw@db")


def test_a_missing_secret_file_is_an_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNAALPUNT_FILETEST_API_KEY_FILE", "/nonexistent/api-key")
    with pytest.raises(FileNotFoundError):
        _Settings()
