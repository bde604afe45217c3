"""The console's settings (environment prefix SIGNAALPUNT_CONSOLE_).

The console keeps no data: it needs where the identity provider and the services are, and a
secret to sign its session cookie with."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from signaalpunt_runtime.settings import FileVariablesSettings

DEVELOPMENT_SESSION_SECRET = "development-only-console-session-secret"  # noqa: S105 - refused in production


class ConsoleSettings(FileVariablesSettings):
    # secrets as files, as every service (SIGNAALPUNT_CONSOLE_SESSION_SECRET_FILE=/path)
    # a refusal names the setting, never repeats the values (secrets among them)
    model_config = SettingsConfigDict(
        env_prefix="SIGNAALPUNT_CONSOLE_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = "console"
    environment: str = Field(
        default_factory=lambda: os.environ.get("SIGNAALPUNT_ENVIRONMENT", "development")
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8107
    management_port: int = 9107
    public_url: str = Field(
        default="http://127.0.0.1:8107",
        description="where browsers reach the console: the OIDC redirect URI is built from it",
    )

    # sign-in: OpenID Connect, authorization code with PKCE
    oidc_discovery_url: str = Field(
        default="http://127.0.0.1:8110/.well-known/openid-configuration",
        description="the identity provider's discovery document (locally: the development IdP)",
    )
    oidc_client_id: str = "signaalpunt-console"
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="for a confidential client; PKCE is used either way"
    )
    oidc_scopes: str = "openid profile"

    # the session cookie: signed (itsdangerous), HttpOnly, SameSite=Lax, Secure outside development
    session_secret: SecretStr = SecretStr(DEVELOPMENT_SESSION_SECRET)
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    cookie_secure: bool | None = Field(
        default=None, description="default: true unless public_url is plain http"
    )

    # access tokens: the same check every API makes, to know who signed in
    jwks_file: Path = Field(default=Path(".local/dev-auth/jwks.json"))
    jwks_url: str | None = None
    token_issuer: str = "https://auth.signaalpunt.local"  # noqa: S105 - a URL, not a secret
    token_audience: str = "signaalpunt"  # noqa: S105

    # the services whose APIs the console calls
    intake_url: str = "http://127.0.0.1:8101"
    triage_url: str = "http://127.0.0.1:8102"
    referral_url: str = "http://127.0.0.1:8105"
    matching_url: str = "http://127.0.0.1:8106"
    notifications_url: str = "http://127.0.0.1:8103"
    refresh_margin_seconds: float = Field(
        default=60,
        ge=0,
        description="renew the access token (refresh token) this long before it ends",
    )
    grafana_url: str | None = Field(default=None, description="linked from the reports page")
    api_timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.public_url.startswith("http://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> ConsoleSettings:
        if self.environment == "production":
            if self.session_secret.get_secret_value() == DEVELOPMENT_SESSION_SECRET:
                raise ValueError("session_secret is the development value")
            if not self.secure_cookies:
                raise ValueError("cookies must be Secure in production (https public_url)")
        return self
