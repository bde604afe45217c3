"""Production mode: a service that refuses to start with anything meant for a developer's machine.

`SIGNAALPUNT_ENVIRONMENT=production` (or `SIGNAALPUNT_<SERVICE>_ENVIRONMENT`) makes the settings
refuse, naming each setting to change:

- a database URL without a password or with a development one (`signaalpunt`, or the role's own
  name as in compose: `intake:intake`), or without TLS (`sslmode` verify-full or verify-ca);
- Kafka without TLS (`SASL_SSL` or `SSL`), or a principal on its development password (none
  given, or `kafka_security.development_password`);
- any secret still at the value the package ships (e.g. the SMS access key `dev-access-key`);
- key-encryption keys made by `scripts/dev_secrets.py` (ids `dev-…`);
- a file setting still at a development default under `.local/` (the development token keys of
  `signaalpunt-tokens keygen`, intake's development partner key), unless the setting that
  replaces it in a cluster is given (`JWKS_URL` for `jwks_file`);
- whatever a service adds in `development_values()` (notifications: the packaged partner file).

The check runs when the settings are made, before anything connects: the service does not start.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from .kafka_security import development_password

if TYPE_CHECKING:
    from .settings import ServiceSettings

Environment = Literal["development", "production"]
DEVELOPMENT_DATABASE_PASSWORDS = frozenset({"signaalpunt", "postgres", "password", ""})
DEVELOPMENT_KEK_PREFIX = "dev-"
VERIFYING_SSLMODES = frozenset({"verify-full", "verify-ca"})
# a setting given as a file that replaces a development file default in a cluster
REPLACED_BY = {"jwks_file": "jwks_url"}


class DevelopmentValuesError(ValueError):
    """Production settings that still carry development values; names each setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "production mode (SIGNAALPUNT_ENVIRONMENT=production) refuses to start with "
            "development values: " + "; ".join(problems)
        )


def _database_url_problems(variable: str, url: str) -> Iterable[str]:
    parts = urlsplit(url)
    password = parts.password or ""
    if password in DEVELOPMENT_DATABASE_PASSWORDS or password == (parts.username or ""):
        yield f"{variable}: a development database password"
    sslmode = parse_qs(parts.query).get("sslmode", [""])[-1]
    if sslmode not in VERIFYING_SSLMODES:
        yield f"{variable}: no verified TLS (sslmode=verify-full, e.g. through …_DATABASE_SSLMODE)"


def development_values(settings: ServiceSettings) -> list[str]:
    """What in `settings` is meant for development, each as `<VARIABLE>: why`."""
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    fields = type(settings).model_fields
    problems: list[str] = []
    problems += _database_url_problems(
        "SIGNAALPUNT_DATABASE_URL", settings.database_url.get_secret_value()
    )
    kafka = settings.kafka_security
    if not kafka.protocol.endswith("SSL"):
        problems.append(
            f"SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL: {kafka.protocol} has no TLS (SASL_SSL or SSL)"
        )
    if kafka.protocol.startswith("SASL") and (
        kafka.password is None
        or kafka.password.get_secret_value() == development_password(kafka.username)
    ):
        problems.append(
            f"SIGNAALPUNT_KAFKA_PASSWORD: the development password of principal {kafka.username}"
        )
    for name, info in fields.items():
        value = getattr(settings, name)
        variable = f"{prefix}{name}".upper()
        if name in ("database_url", "kafka_password"):
            continue
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if isinstance(info.default, SecretStr) and secret == info.default.get_secret_value():
                problems.append(f"{variable}: the value the package ships")
            elif name.endswith("database_url"):
                problems += _database_url_problems(variable, secret)
            elif name == "key_encryption_keys" and any(
                spec.strip().startswith(DEVELOPMENT_KEK_PREFIX) for spec in secret.split(",")
            ):
                problems.append(f"{variable}: development keys (scripts/dev_secrets.py)")
        elif isinstance(value, PurePath) and isinstance(info.default, PurePath):
            development_file = not info.default.is_absolute() and value == info.default
            replacement = REPLACED_BY.get(name)
            if development_file and not (replacement and getattr(settings, replacement, None)):
                hint = f" (or set {(prefix + replacement).upper()})" if replacement else ""
                problems.append(f"{variable}: the development file {value}{hint}")
    return problems + list(settings.development_values())
