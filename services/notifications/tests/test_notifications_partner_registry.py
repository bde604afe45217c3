"""A partner's webhook comes from the partner registry (issue 16): the consortium adds a partner
or changes its webhook URL with `signaalpunt-partners` (intake lists it on partners.listed.v1),
without a release of notifications; the signing secret stays in notifications' secret store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from notifications_harness import (
    LISTED_PARTNER,
    PARTNER_SECRET,
    Running,
    envelope,
    eventually,
    rejected,
)
from signaalpunt_contracts import Envelope, PartnerListedV1
from standardwebhooks import Webhook
from test_notifications_flow import settled


def listing(url: str | None, *, active: bool = True) -> Envelope[PartnerListedV1]:
    return Envelope.new(
        PartnerListedV1(
            partner=LISTED_PARTNER,
            name="Wijkteam Vlissingen",
            partner_type="wijkteam",
            municipalities=("GM0718",),
            webhook_url=url,
            active=active,
            changed_at=datetime.now(UTC),
        ),
        municipality="GM0718",
        producer="intake",
    )


def _webhook_url(notifications: Running) -> str | None:
    partner = notifications.notifications.addresses.directory.partners.get(LISTED_PARTNER)
    return partner.webhook.url if partner and partner.webhook else None


async def test_a_refusal_goes_to_the_webhook_the_registry_lists(notifications: Running) -> None:
    path = f"registry-{uuid.uuid4().hex[:8]}"
    url = notifications.sinks.webhook_url(path)
    await notifications.publish(listing(url))

    async def listed() -> bool:
        return _webhook_url(notifications) == url

    await eventually(listed, what="the registry's webhook URL in use", timeout=30)
    event = await notifications.publish(envelope(rejected(LISTED_PARTNER, "wt-2026-0001")))
    (row,) = await settled(notifications, 1, reason_event_id=event.event_id)
    assert row["status"] == "sent"
    with notifications.sinks.received.lock:
        (hook,) = [w for w in notifications.sinks.received.webhooks if w.path.endswith(path)]
    payload: dict[str, Any] = Webhook(PARTNER_SECRET).verify(hook.body, hook.headers)
    assert payload["data"]["partner_event_id"] == "wt-2026-0001"

    # deactivated in the registry: the partner hears nothing more
    await notifications.publish(listing(url, active=False))

    async def gone() -> bool:
        return LISTED_PARTNER not in notifications.notifications.addresses.directory.partners

    await eventually(gone, what="the deactivation in use", timeout=30)
    later = await notifications.publish(envelope(rejected(LISTED_PARTNER, "wt-2026-0002")))

    async def handled() -> bool:
        return await notifications.handled(later.event_id)

    await eventually(handled, what="the refusal handled", timeout=30)
    assert await notifications.deliveries(reason_event_id=later.event_id) == []
