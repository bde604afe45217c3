"""Which Kafka principal may do what, from the topic registry: exactly the topics a service
produces or consumes, and the dead-letter topics of its own consumer groups; a partner writes only
the partner topic and reads only its own rejections. The broker's StandardAuthorizer refuses
whatever no ACL allows.

One source for both places the ACLs live:
- the Strimzi `KafkaUser` resources in k8s/ (scripts/k8s_manifests.py, `make manifests`);
- a broker's ACLs, applied by `signaalpunt-topics acls --apply` (`apply_acls`; `make topics` on the
  local broker, with `--local-users` giving every principal its development password).

Tools (topics, dead-letter replay, the partner registry, tests with private topics) use the admin
principal, a super user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from signaalpunt_contracts import TopicRegistry, partner_rejections_topic
from signaalpunt_contracts.topics import PARTNER_TOPIC_PREFIX, group_service

from .kafka_security import KafkaSecurity, development_password

ResourceType = Literal["topic", "group", "cluster"]
PARTNERS = "partners"
"""The registry's producer name for partner systems: each partner is a principal of its own."""
NOT_A_PRINCIPAL = frozenset({"any", PARTNERS})
PARTNER_TOPIC_WRITERS = frozenset({"intake"})
"""Services that make and write each partner's own topic (`partner.<slug>.rejections.v1`)."""
LAG_READERS = frozenset({"metrics"})
"""Services that read every consumer group's committed offsets (consumer lag)."""


@dataclass(frozen=True, order=True)
class Acl:
    resource_type: ResourceType
    name: str
    operation: str
    pattern: Literal["literal", "prefix"] = "literal"


def service_principals(registry: TopicRegistry) -> list[str]:
    """Every service named as producer or consumer (groups are named after their service, or are
    one of its lanes: `LANE_GROUPS`)."""
    names = {p for t in registry for p in t.producers} | {
        group_service(c) for t in registry for c in t.consumers
    }
    return sorted(names - NOT_A_PRINCIPAL)


def service_acls(registry: TopicRegistry, service: str) -> set[Acl]:
    acls: set[Acl] = set()
    for topic in registry:
        if service in topic.producers:
            acls |= {Acl("topic", topic.name, "Write"), Acl("topic", topic.name, "Describe")}
        groups = [group for group in topic.consumers if group_service(group) == service]
        for group in groups:
            acls |= {
                Acl("topic", topic.name, "Read"),
                Acl("topic", topic.name, "Describe"),
                Acl("group", group, "Read"),
                # its own dead letters: parked by the consumer, read back by replay
                Acl("topic", topic.dead_letter_topic(group), "Write"),
                Acl("topic", topic.dead_letter_topic(group), "Read"),
                Acl("topic", topic.dead_letter_topic(group), "Describe"),
            }
        if groups and PARTNERS in topic.producers:
            # what it has taken from the partners' topic it deletes (DeleteRecords): nothing
            # a partner sent stays readable there once handled
            acls.add(Acl("topic", topic.name, "Delete"))
    if service in PARTNER_TOPIC_WRITERS:
        acls |= {
            Acl("topic", PARTNER_TOPIC_PREFIX, operation, "prefix")
            for operation in ("Create", "Write", "Describe")
        }
    if service in LAG_READERS:
        acls |= {Acl("group", "*", "Describe"), Acl("topic", "*", "Describe")}
    return acls


def partner_acls(registry: TopicRegistry, urn: str | None = None) -> set[Acl]:
    """What a partner principal may do: write the topics partners produce to and, given its URN,
    read its own rejection topic with its own consumer group; nothing else (never another
    partner's rejections, nor the shared partner.signals.rejections.v1)."""
    acls: set[Acl] = set()
    for topic in registry:
        if PARTNERS in topic.producers:
            acls |= {Acl("topic", topic.name, "Write"), Acl("topic", topic.name, "Describe")}
    if urn is not None:
        own = partner_rejections_topic(urn).name
        acls |= {
            Acl("topic", own, "Read"),
            Acl("topic", own, "Describe"),
            Acl("group", partner_group(urn), "Read"),
        }
    return acls


def partner_group(urn: str) -> str:
    """The consumer group a partner reads its rejections with: `partner-<slug>`."""
    return "partner-" + urn.rsplit(":", 1)[-1]


def partner_principal(urn: str) -> str:
    """A partner's principal (its KafkaUser): `urn:…:partner:wmo-hulst` → `partner-wmo-hulst`,
    the same name as its consumer group."""
    return partner_group(urn)


def registry_principals(
    registry: TopicRegistry, partner_urns: Iterable[str] = ()
) -> dict[str, set[Acl]]:
    """Every principal the registry implies (a service each, a partner each) and its ACLs."""
    principals = {name: service_acls(registry, name) for name in service_principals(registry)}
    for urn in partner_urns:
        principals[partner_principal(urn)] = partner_acls(registry, urn)
    return principals


@dataclass(frozen=True)
class AclChanges:
    added: int
    removed: int
    users: list[str]


def apply_acls(
    bootstrap: str,
    security: KafkaSecurity,
    principals: Mapping[str, set[Acl]],
    *,
    local_users: bool = False,
    prune: bool = True,
    timeout: float = 30,
) -> AclChanges:
    """Make the broker's ACLs of `principals` exactly theirs: add what is missing, remove what
    the registry no longer gives (librdkafka's admin client: aiokafka has no ACL or SCRAM
    administration). With `local_users`, every principal gets its development password. With
    `prune=False` nothing is removed (a test adding ACLs on private topics beside the
    registry's)."""
    # only this command needs librdkafka; its stubs do not re-export these names
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # noqa: PLC0415
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialAlteration,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap, **security.librdkafka()})
    resources = {
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "cluster": ResourceType.BROKER,
    }
    patterns = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}

    def binding(principal: str, acl: Acl) -> Any:
        return AclBinding(
            resources[acl.resource_type],
            "kafka-cluster" if acl.resource_type == "cluster" else acl.name,
            patterns[acl.pattern],
            f"User:{principal}",
            "*",
            AclOperation[acl.operation.upper()],
            AclPermissionType.ALLOW,
        )

    users = sorted(principals)
    if local_users:
        mechanism = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upserts: list[UserScramCredentialAlteration] = [
            UserScramCredentialUpsertion(user, mechanism, development_password(user).encode())
            for user in users
        ]
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result(timeout)

    wanted = {binding(p, acl) for p, acls in principals.items() for acl in acls}
    existing: set[Any] = set()
    for user in users:
        existing.update(
            admin.describe_acls(
                AclBindingFilter(
                    ResourceType.ANY,
                    None,  # type: ignore[arg-type]  # None matches any name (librdkafka)
                    ResourcePatternType.ANY,
                    f"User:{user}",
                    None,  # type: ignore[arg-type]  # any host
                    AclOperation.ANY,
                    AclPermissionType.ANY,
                )
            ).result(timeout)
        )
    missing = [b for b in wanted if b not in existing]
    stale = [b for b in existing if b not in wanted] if prune else []
    if missing:
        for future in admin.create_acls(missing).values():
            future.result(timeout)
    if stale:
        filters = [
            AclBindingFilter(
                b.restype,
                b.name,
                b.resource_pattern_type,
                b.principal,
                b.host,
                b.operation,
                b.permission_type,
            )
            for b in stale
        ]
        for future in admin.delete_acls(filters).values():
            future.result(timeout)
    return AclChanges(len(missing), len(stale), users if local_users else [])


def _admin(bootstrap: str, security: KafkaSecurity) -> Any:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    return AdminClient({"bootstrap.servers": bootstrap, **security.librdkafka()})


def scram_users(
    bootstrap: str, security: KafkaSecurity, *, timeout: float = 30
) -> dict[str, list[Any]]:
    """The principals that have a SCRAM credential on the broker, with their mechanisms."""
    admin = _admin(bootstrap, security)  # kept until the answer came: its futures die with it
    described = admin.describe_user_scram_credentials().result(timeout)
    return {
        user: [info.mechanism for info in description.scram_credential_infos]
        for user, description in described.items()
    }


def remove_users(
    bootstrap: str, security: KafkaSecurity, users: Iterable[str], *, timeout: float = 30
) -> None:
    """Delete the SCRAM credentials of `users` (each mechanism they have): they can no longer
    authenticate. Their ACLs are not touched (`apply_acls` with an empty set removes those)."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # noqa: PLC0415
        UserScramCredentialDeletion,
    )

    present = scram_users(bootstrap, security, timeout=timeout)
    deletions = [
        UserScramCredentialDeletion(user, mechanism)
        for user in sorted(set(users) & set(present))
        for mechanism in present[user]
    ]
    if deletions:
        admin = _admin(bootstrap, security)
        for future in admin.alter_user_scram_credentials(deletions).values():
            future.result(timeout)
