"""Which Kafka principal may do what, from the topic registry: exactly the topics a service
produces or consumes, and the dead-letter topics of its own consumer groups.

Used for the Strimzi `KafkaUser` resources in k8s/ (scripts/k8s_manifests.py). The broker-side ACL
generator of the security work (issue 15) computes the same from the same registry; when it lands
this module becomes a thin call to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from signaalpunt_contracts import TopicRegistry, partner_rejections_topic
from signaalpunt_contracts.topics import PARTNER_TOPIC_PREFIX

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
    """Every service named as producer or consumer (groups are named after their service)."""
    names = {p for t in registry for p in t.producers} | {c for t in registry for c in t.consumers}
    return sorted(names - NOT_A_PRINCIPAL)


def service_acls(registry: TopicRegistry, service: str) -> set[Acl]:
    acls: set[Acl] = set()
    for topic in registry:
        if service in topic.producers:
            acls |= {Acl("topic", topic.name, "Write"), Acl("topic", topic.name, "Describe")}
        if service in topic.consumers:
            acls |= {
                Acl("topic", topic.name, "Read"),
                Acl("topic", topic.name, "Describe"),
                Acl("group", service, "Read"),
                # its own dead letters: parked by the consumer, read back by replay
                Acl("topic", topic.dead_letter_topic(service), "Write"),
                Acl("topic", topic.dead_letter_topic(service), "Read"),
                Acl("topic", topic.dead_letter_topic(service), "Describe"),
            }
            if PARTNERS in topic.producers:
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
