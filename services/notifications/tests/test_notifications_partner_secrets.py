"""Partners' webhook secrets are never packaged (issue 15): the packaged partners file has none,
the service refuses to sign without one, and production refuses a development secret, whether
scripts/dev_secrets.py generated it or an installation copied the one a package once shipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from signaalpunt_notifications.config import (
    HERE,
    NotificationsSettings,
    development_webhook_secret,
    load_directory,
)

# the secret the package shipped for Huisartsen Terneuzen-Noord until this change
SHIPPED = "whsec_ZGV2LWh1aXNhcnRzZW4tdGVybmV1emVuLW5vb3JkLXNlY3JldA=="
PRODUCTION = {
    "SIGNAALPUNT_ENVIRONMENT": "production",
    "SIGNAALPUNT_DATABASE_URL": "postgresql://notifications:Xk9-long@db:5432/s?sslmode=verify-full",
    "SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "SIGNAALPUNT_KAFKA_PASSWORD": "a-generated-password",
    "SIGNAALPUNT_NOTIFICATIONS_KEY_ENCRYPTION_KEYS": "kms-2026:AAAA",
    "SIGNAALPUNT_NOTIFICATIONS_JWKS_URL": "https://login.example/.well-known/jwks.json",
    "SIGNAALPUNT_NOTIFICATIONS_SMS_ACCESS_KEY": "a-real-access-key",
}


def partners_file(folder: Path, secret: str) -> Path:
    packaged = yaml.safe_load((HERE / "partners.yaml").read_text())
    for entry in packaged["partners"]:
        if entry.get("webhook"):
            entry["webhook"]["secret"] = secret
    path = folder / "partners.yaml"
    path.write_text(yaml.safe_dump(packaged))
    return path


def refusal(monkeypatch: pytest.MonkeyPatch, partners: Path) -> str:
    for name, value in {
        **PRODUCTION,
        "SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE": str(partners),
    }.items():
        monkeypatch.setenv(name, value)
    try:
        NotificationsSettings()
    except ValidationError as refused:
        return str(refused)
    return ""


def test_the_packaged_partners_file_has_webhooks_but_no_secrets() -> None:
    partners = yaml.safe_load((HERE / "partners.yaml").read_text())["partners"]
    hooks = [entry["webhook"] for entry in partners if entry.get("webhook")]
    assert hooks, "the development consortium's partners still hear back over a webhook"
    assert all("secret" not in hook for hook in hooks)
    assert "whsec_" not in (HERE / "partners.yaml").read_text()


def test_the_service_does_not_sign_without_a_secret() -> None:
    with pytest.raises(ValueError, match="no webhook secret for urn:signaalpunt:partner:"):
        load_directory(HERE / "municipalities.yaml", HERE / "partners.yaml", staff_portal_url="x")


def test_production_refuses_development_webhook_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for secret in (development_webhook_secret(), SHIPPED):
        refused = refusal(monkeypatch, partners_file(tmp_path, secret))
        assert "a development webhook secret" in refused, secret
        assert secret not in refused  # named, never shown
    assert "packaged development partners" in refusal(monkeypatch, HERE / "partners.yaml")
    own = "whsec_" + "c2VjcmV0LW9mLXRoZS1pbnN0YWxsYXRpb24tMjAyNg=="
    assert refusal(monkeypatch, partners_file(tmp_path, own)) == ""


def test_no_file_in_the_repository_carries_a_webhook_secret() -> None:
    # the k8s development overlay carried a copy of the packaged secrets too
    repo = HERE.parents[3]
    shipped = [
        path.relative_to(repo)
        for pattern in ("services/*/src/**/*.y*ml", "deploy/**/*.y*ml", "k8s/**/*.y*ml", "*.y*ml")
        for path in repo.glob(pattern)
        if "whsec_" in path.read_text()
    ]
    assert shipped == []
