"""How every Kafka client of Signaalpunt authenticates: one set of settings, the same names locally
and in production.

    SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL   SASL_SSL in production; SASL_PLAINTEXT on the local
                                          broker (loopback only); SSL for mTLS without SASL
    SIGNAALPUNT_KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
    SIGNAALPUNT_KAFKA_USERNAME            the principal; a service defaults to its own name
    SIGNAALPUNT_KAFKA_PASSWORD            or SIGNAALPUNT_KAFKA_PASSWORD_FILE (a mounted secret)
    SIGNAALPUNT_KAFKA_SSL_CAFILE          the CA that signed the brokers' certificates
    SIGNAALPUNT_KAFKA_SSL_CERTFILE        client certificate (mTLS), with …_SSL_KEYFILE
    SIGNAALPUNT_KAFKA_SSL_CHECK_HOSTNAME  true (default)

A service reads `SIGNAALPUNT_<SERVICE>_KAFKA_…` first (its own principal), then the shared names.
Without a password, the local development password of the principal is used: what
`signaalpunt-topics acls --local-users` gives every principal on the local broker, never valid in
production (`DEVELOPMENT_PASSWORDS`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from pydantic import BaseModel, ConfigDict, SecretStr

ADMIN = "signaalpunt-admin"
"""The local broker's super user (created when its storage is formatted): tools and tests."""

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def development_password(principal: str) -> str:
    """The local broker's password of `principal` (deploy/local, tests): development only."""
    return f"signaalpunt-dev-{principal.removeprefix('signaalpunt-')}"


class KafkaSecurity(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: Protocol = "SASL_PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str = ADMIN
    password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def from_environment(
        cls, lookup: Callable[[str], str | None], *, default_username: str = ADMIN
    ) -> KafkaSecurity:
        """From settings found by `lookup(name)`, e.g. `USERNAME` → the value or None."""
        values: dict[str, Any] = {
            "protocol": lookup("SECURITY_PROTOCOL"),
            "mechanism": lookup("SASL_MECHANISM"),
            "username": lookup("USERNAME") or default_username,
            "password": lookup("PASSWORD"),
            "ssl_cafile": lookup("SSL_CAFILE"),
            "ssl_certfile": lookup("SSL_CERTFILE"),
            "ssl_keyfile": lookup("SSL_KEYFILE"),
            "ssl_check_hostname": lookup("SSL_CHECK_HOSTNAME"),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})

    @property
    def uses_development_password(self) -> bool:
        return self.protocol.startswith("SASL") and (
            self.password is None
            or self.password.get_secret_value() == development_password(self.username)
        )

    def _password(self) -> str:
        if self.password is not None:
            return self.password.get_secret_value()
        return development_password(self.username)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:  # mTLS: the broker knows the client by its certificate
            context.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
            )
        return context

    def faststream(self) -> BaseSecurity | None:
        """For `KafkaBroker(security=…)`."""
        context = self.ssl_context()
        if self.protocol == "PLAINTEXT":
            return None
        if self.protocol == "SSL":
            return BaseSecurity(ssl_context=context, use_ssl=True)
        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256}.get(
            self.mechanism, SASLPlaintext
        )
        return kind(
            username=self.username,
            password=self._password(),
            ssl_context=context,
            use_ssl=self.protocol == "SASL_SSL",
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        from faststream.kafka.security import parse_security  # noqa: PLC0415

        return parse_security(self.faststream())

    def librdkafka(self) -> dict[str, str]:
        """The same, as librdkafka (confluent-kafka) configuration: the ACL tool."""
        config = {"security.protocol": self.protocol.lower()}
        if self.protocol.startswith("SASL"):
            config |= {
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.username,
                "sasl.password": self._password(),
            }
        if self.ssl_cafile:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            config["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            config["ssl.key.location"] = str(self.ssl_keyfile)
        if not self.ssl_check_hostname:
            config["ssl.endpoint.identification.algorithm"] = "none"
        return config


def shared_security(*, default_username: str = ADMIN) -> KafkaSecurity:
    """From the shared `SIGNAALPUNT_KAFKA_…` variables (tools, tests, scripts)."""
    from .settings import from_file_variable  # noqa: PLC0415

    return KafkaSecurity.from_environment(
        lambda name: from_file_variable(f"SIGNAALPUNT_KAFKA_{name}"),
        default_username=default_username,
    )
