"""Production mode refuses to start with development values, naming each setting (issue 15,
item 6): before it, a production start silently used the packaged development secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from signaalpunt_runtime import ServiceSettings
from signaalpunt_runtime.kafka_security import development_password


class _Settings(ServiceSettings):
    model_config = ServiceSettings.model_config | {"env_prefix": "SIGNAALPUNT_PRODTEST_"}
    service_name: str = "prodtest"
    key_encryption_keys: SecretStr
    access_key: SecretStr = SecretStr("dev-access-key")
    jwks_file: Path = Path(".local/dev-auth/jwks.json")
    jwks_url: str | None = None


PRODUCTION = {
    "SIGNAALPUNT_ENVIRONMENT": "production",
    "SIGNAALPUNT_DATABASE_URL": "postgresql://prodtest:Xk9-long-secret@db:5432/signaalpunt",
    "SIGNAALPUNT_PRODTEST_DATABASE_SSLMODE": "verify-full",
    "SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "SIGNAALPUNT_KAFKA_PASSWORD": "a-generated-password",
    "SIGNAALPUNT_PRODTEST_ACCESS_KEY": "a-real-access-key",
    "SIGNAALPUNT_PRODTEST_KEY_ENCRYPTION_KEYS": "kms-2026:AAAA",
    "SIGNAALPUNT_PRODTEST_JWKS_URL": "https://login.example/.well-known/jwks.json",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(__import__("os").environ):
        if name.startswith("SIGNAALPUNT_"):
            monkeypatch.delenv(name)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def refusal(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> str:
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        _Settings()
    return str(refused.value)


def test_production_settings_without_development_values_start(
    production: pytest.MonkeyPatch,
) -> None:
    settings = _Settings()
    assert settings.environment == "production"


def test_development_is_the_default_and_takes_every_development_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SIGNAALPUNT_ENVIRONMENT", raising=False)
    monkeypatch.setenv("SIGNAALPUNT_DATABASE_URL", "postgresql://signaalpunt:signaalpunt@db/x")
    monkeypatch.setenv("SIGNAALPUNT_PRODTEST_KEY_ENCRYPTION_KEYS", "dev-1:AAAA")
    monkeypatch.delenv("SIGNAALPUNT_KAFKA_PASSWORD", raising=False)
    settings = _Settings()
    assert settings.environment == "development"
    assert settings.access_key.get_secret_value() == "dev-access-key"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (
            {"SIGNAALPUNT_DATABASE_URL": "postgresql://signaalpunt:signaalpunt@db/signaalpunt"},
            "SIGNAALPUNT_DATABASE_URL: a development database password",
        ),
        (  # compose's roles: the password is the role's name
            {"SIGNAALPUNT_DATABASE_URL": "postgresql://prodtest:prodtest@db/signaalpunt"},
            "SIGNAALPUNT_DATABASE_URL: a development database password",
        ),
        (
            {"SIGNAALPUNT_PRODTEST_DATABASE_SSLMODE": "prefer"},
            "SIGNAALPUNT_DATABASE_URL: no verified TLS",
        ),
        ({"SIGNAALPUNT_KAFKA_PASSWORD": None}, "SIGNAALPUNT_KAFKA_PASSWORD"),
        (
            {"SIGNAALPUNT_KAFKA_PASSWORD": development_password("prodtest")},
            "SIGNAALPUNT_KAFKA_PASSWORD",
        ),
        (
            {"SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
            "SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL",
        ),
        (
            {"SIGNAALPUNT_PRODTEST_ACCESS_KEY": None},
            "SIGNAALPUNT_PRODTEST_ACCESS_KEY: the value the package ships",
        ),
        (
            {"SIGNAALPUNT_PRODTEST_JWKS_URL": None},
            "SIGNAALPUNT_PRODTEST_JWKS_FILE: the development file",
        ),
        (
            {"SIGNAALPUNT_PRODTEST_KEY_ENCRYPTION_KEYS": "dev-1:AAAA"},
            "SIGNAALPUNT_PRODTEST_KEY_ENCRYPTION_KEYS: development keys",
        ),
    ],
)
def test_production_refuses_each_development_value_by_name(
    production: pytest.MonkeyPatch, changes: dict[str, str | None], named: str
) -> None:
    message = refusal(production, **changes)
    assert "SIGNAALPUNT_ENVIRONMENT=production" in message
    assert named in message
    for secret in ("Xk9-long-secret", "a-real-access-key", "a-generated-password"):
        assert secret not in message  # only names, never values
