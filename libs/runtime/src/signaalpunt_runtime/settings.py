"""Settings base for every service (pydantic-settings).

Each service subclasses `ServiceSettings` with its own env prefix, e.g. `SIGNAALPUNT_INTAKE_`. The
connection settings fall back to the shared variables that `deploy/local/infra.sh env` prints
(`SIGNAALPUNT_KAFKA_BOOTSTRAP`, `SIGNAALPUNT_DATABASE_URL`), so one environment serves all services
while a single service can still be pointed elsewhere.

Every setting can also come from a file (a Kubernetes Secret volume, a compose secret): set
`<VARIABLE>_FILE` to its path, e.g. `SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS_FILE=/run/secrets/kek`
or `SIGNAALPUNT_DATABASE_URL_FILE=/run/secrets/database-url`. The file's content, without its
trailing newline, is the value; a variable set directly wins over its file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .kafka_security import KafkaSecurity
from .production import DevelopmentValuesError, Environment, development_values


def from_file_variable(name: str) -> str | None:
    """The value of `name`, or else the content of the file that `<name>_FILE` names."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().rstrip("\r\n")
    return None


def with_query(dsn: str, parameters: dict[str, str]) -> str:
    """`dsn` with `parameters` set in its query (replacing ones of the same name)."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query)) | parameters
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _secret(value: str | None) -> SecretStr | None:
    return None if value is None else SecretStr(value)


def _shared(name: str, default: str) -> str:
    value = from_file_variable(name)
    return default if value is None else value


class FileVariablesSource(PydanticBaseSettingsSource):
    """`<PREFIX><FIELD>_FILE=/path`: the field's value is the file's content (secrets as files)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        prefix = str(self.config.get("env_prefix", ""))
        variable = f"{prefix}{field_name}".upper() + "_FILE"
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        return Path(path).read_text().rstrip("\r\n"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                values[key] = value
        return values


class FileVariablesSettings(BaseSettings):
    """Settings of which every field may also come from a file, `<PREFIX><FIELD>_FILE=/path`
    (a Kubernetes Secret or a compose secret mounted): the services' and the console's."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # a variable set directly wins over its `_FILE`; both over the defaults
        return (
            init_settings,
            env_settings,
            FileVariablesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


Role = Literal["all", "api", "relay"]
"""What a service process does: `all` (its API, its consumers and its outbox relay), `api` (the
API and the consumers; another process relays) or `relay` (the outbox relay alone)."""


class ServiceSettings(FileVariablesSettings):
    # a refusal names the setting, never repeats the values (secrets among them)
    model_config = SettingsConfigDict(
        env_prefix="SIGNAALPUNT_SERVICE_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = Field(description="the service's name: logs, metrics, client id, producer")
    environment: Environment = Field(
        default_factory=lambda: _shared("SIGNAALPUNT_ENVIRONMENT", "development"),
        validate_default=True,
        description="production: refuse to start with any development secret, password or key "
        "(production.py); the shared SIGNAALPUNT_ENVIRONMENT sets it for every service",
    )
    instance: str = Field(
        default_factory=lambda: os.environ.get("HOSTNAME", "local"),
        description="this replica (pod name in Kubernetes)",
    )
    kafka_bootstrap: str = Field(
        default_factory=lambda: _shared("SIGNAALPUNT_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    # Kafka security (kafka_security.py): per service, else the shared SIGNAALPUNT_KAFKA_… names
    kafka_security_protocol: str | None = Field(
        default_factory=lambda: from_file_variable("SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL"),
        description="SASL_SSL in production; SASL_PLAINTEXT on the local broker",
    )
    kafka_sasl_mechanism: str | None = Field(
        default_factory=lambda: from_file_variable("SIGNAALPUNT_KAFKA_SASL_MECHANISM"),
        description="SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN",
    )
    kafka_username: str | None = Field(
        default_factory=lambda: from_file_variable("SIGNAALPUNT_KAFKA_USERNAME"),
        description="the service's Kafka principal; default: the service name",
    )
    kafka_password: SecretStr | None = Field(
        default_factory=lambda: _secret(from_file_variable("SIGNAALPUNT_KAFKA_PASSWORD")),
        description="default: the principal's local development password (never in production)",
    )
    kafka_ssl_cafile: Path | None = Field(
        default_factory=lambda: _path(from_file_variable("SIGNAALPUNT_KAFKA_SSL_CAFILE"))
    )
    kafka_ssl_certfile: Path | None = Field(
        default_factory=lambda: _path(from_file_variable("SIGNAALPUNT_KAFKA_SSL_CERTFILE")),
        description="client certificate for mTLS (with KAFKA_SSL_KEYFILE)",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default_factory=lambda: _path(from_file_variable("SIGNAALPUNT_KAFKA_SSL_KEYFILE"))
    )
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(
            _shared(
                "SIGNAALPUNT_DATABASE_URL",
                "postgresql://signaalpunt:signaalpunt@127.0.0.1:15432/signaalpunt",
            )
        )
    )
    database_sslmode: str | None = Field(
        default=None,
        pattern=r"^(disable|allow|prefer|require|verify-ca|verify-full)$",
        description="PostgreSQL TLS (libpq's sslmode); verify-full in production",
    )
    database_sslrootcert: Path | None = Field(
        default=None, description="CA certificate that signed the server's certificate"
    )
    database_sslcert: Path | None = Field(default=None, description="client certificate (mTLS)")
    database_sslkey: Path | None = Field(default=None, description="its private key")
    database_schema: str = Field(
        default="", pattern=r"^[a-z_][a-z0-9_]*$|^$", description="defaults to the service name"
    )
    database_pool_size: int = Field(default=10, ge=1)
    migrate_on_start: bool = Field(default=True, description="apply migrations at start-up")

    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 inside a container")
    http_port: int = Field(default=8000, ge=0, le=65535, description="the API, and only the API")
    management_port: int = Field(
        default=-1,
        ge=-1,
        le=65535,
        description="/livez, /readyz, /startupz, /metrics and the docs (never exposed publicly); "
        "default: the API port + 1000 (8101 → 9101), any free port when the API port is 0",
    )
    role: Role = Field(
        default="all",
        description="all: API, consumers and outbox relay in one process; api: API and consumers, "
        "the relay runs elsewhere; relay: the outbox relay alone (management port only) - the "
        "same image as a process of its own, so relaying takes no CPU from the requests",
    )
    http_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="worker processes per replica sharing the API port (workers.py); each is a "
        "full process of its role, the management port answers for all of them",
    )
    max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="a larger HTTP request body is refused with a 413 problem, unread",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default=[],
        description="networks of the reverse proxies whose X-Forwarded-For is believed, as a "
        'JSON list, e.g. ["10.0.0.0/8"]; empty: the peer address is the client',
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="request line and headers together larger than this: a 431 problem",
    )
    max_header_count: int = Field(
        default=64, ge=8, description="a request with more headers: a 431 problem"
    )
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(
        default_factory=lambda: os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP endpoint for traces and metrics; none = no export",
    )

    # Delivery
    static_membership: bool = Field(
        default=False,
        description="use the instance name as Kafka group.instance.id (stable pod names, as in a "
        "StatefulSet): a restarted replica gets its partitions back at once, without a rebalance",
    )
    consumer_session_timeout_ms: int = Field(default=10_000, ge=6_000)
    batch_fetch_min_bytes: int = Field(
        default=65_536,
        ge=1,
        description="a batch consumer's fetch waits for this many bytes of events (or "
        "`batch_fetch_max_wait_ms`), so that at a steady rate events come in batches rather than "
        "one transaction each; urgent consumers (the acute lane) and one-by-one ones take what "
        "is there at once",
    )
    batch_fetch_max_wait_ms: int = Field(
        default=500,
        ge=0,
        le=5_000,
        description="the longest a batch consumer's fetch waits for `batch_fetch_min_bytes` "
        "(Kafka's own idle wait is the same 500 ms): the most a quiet stage adds to a signal's way",
    )
    commit_interval: float = Field(
        default=0.5, gt=0, description="seconds between offset commits of handled messages"
    )
    commit_max_pending: int = Field(default=500, ge=1, description="commit at least this often")
    retry_attempts: int = Field(
        default=5,
        ge=1,
        description="tries per event before its failure class decides (dead letter or pause)",
    )
    retry_initial_delay: float = Field(default=0.2, gt=0, description="seconds, doubles per try")
    retry_max_delay: float = Field(default=5.0, gt=0)
    systemic_failures: int = Field(
        default=5,
        ge=1,
        description="this many different events in a row failing with the same unknown error "
        "is systemic (a bad release): the stage pauses instead of parking them all",
    )
    pause_max_delay: float = Field(
        default=10.0,
        gt=0,
        description="seconds: the longest wait between two probes of a paused stage",
    )
    outbox_batch_size: int = Field(default=200, ge=1)
    outbox_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds; LISTEN/NOTIFY wakes the relay sooner"
    )
    outbox_linger: float = Field(
        default=0.01, ge=0, description="seconds the woken relay waits so a burst goes as one batch"
    )
    outbox_keep_published: timedelta = Field(default=timedelta(days=7))
    inbox_keep: timedelta = Field(
        default=timedelta(days=35),
        description="longer than any topic's or dead-letter topic's retention, so a replay "
        "is still recognised",
    )

    @model_validator(mode="after")
    def _management_beside_the_api(self) -> Self:
        if self.management_port == -1:
            self.management_port = self.http_port + 1000 if self.http_port else 0
            if self.management_port > 65535:
                raise ValueError("set MANAGEMENT_PORT: the API port + 1000 is no port")
        return self

    @model_validator(mode="after")
    def _workers_serve_an_api(self) -> Self:
        if self.role == "relay" and self.http_workers > 1:
            # one relay per schema is active at a time: more relay processes only stand by
            raise ValueError("a relay process has no API to share: HTTP_WORKERS must be 1")
        return self

    @model_validator(mode="after")
    def _tls_into_the_dsn(self) -> Self:
        """The TLS settings travel in the DSN (libpq's parameter names, which asyncpg reads), so
        every connection the service opens (pool, relay, migrations) uses them."""
        tls = {
            "sslmode": self.database_sslmode,
            "sslrootcert": self.database_sslrootcert,
            "sslcert": self.database_sslcert,
            "sslkey": self.database_sslkey,
        }
        given = {k: str(v) for k, v in tls.items() if v is not None}
        if given:
            self.database_url = SecretStr(with_query(self.database_url.get_secret_value(), given))
        return self

    @model_validator(mode="after")
    def _production_refuses_development_values(self) -> Self:
        if self.environment == "production":
            problems = development_values(self)
            if problems:
                raise DevelopmentValuesError(problems)
        return self

    def development_values(self) -> Iterable[str]:
        """A service's own development values beyond the common ones (production.py), each as
        `<VARIABLE>: why`."""
        return ()

    @property
    def kafka_security(self) -> KafkaSecurity:
        values = {
            "SECURITY_PROTOCOL": self.kafka_security_protocol,
            "SASL_MECHANISM": self.kafka_sasl_mechanism,
            "USERNAME": self.kafka_username,
            "PASSWORD": self.kafka_password.get_secret_value() if self.kafka_password else None,
            "SSL_CAFILE": str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
            "SSL_CERTFILE": str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
            "SSL_KEYFILE": str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
        }
        return KafkaSecurity.from_environment(values.get, default_username=self.service_name)

    @property
    def schema_name(self) -> str:
        return self.database_schema or self.service_name.replace("-", "_")
