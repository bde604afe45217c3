"""The notifications service as a separate process for the kill -9 test.

Settings come from the environment as in production (SIGNAALPUNT_NOTIFICATIONS_*); the test adds
NOTIFICATIONS_TEST_TOPIC_PREFIX (its private topics) and NOTIFICATIONS_TEST_AFTER_SEND_DELAY:
seconds between a receiver's acceptance and the delivery log's commit, to widen the window in
which a kill produces a second copy.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

from signaalpunt_contracts import NOTIFICATIONS, PARTNERS_LISTED, Topic
from signaalpunt_notifications.channels import Channel, Outgoing
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import CONSUMED, Extensions, compose


class SlowCommit:
    """A channel that lingers after the receiver accepted (the commit comes later)."""

    def __init__(self, inner: Channel, delay: float) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.provider = inner.provider
        self.delay = delay

    async def send(self, message: Outgoing) -> None:
        await self.inner.send(message)
        await asyncio.sleep(self.delay)


def private(topic: Topic, prefix: str) -> Topic:
    return replace(topic, name=f"{prefix}.{topic.name}")


def main() -> None:
    prefix = os.environ["NOTIFICATIONS_TEST_TOPIC_PREFIX"]
    delay = float(os.environ.get("NOTIFICATIONS_TEST_AFTER_SEND_DELAY", "0"))
    composed = compose(
        NotificationsSettings(),
        notifications=private(NOTIFICATIONS, prefix),
        extensions=Extensions(
            topics=tuple(private(t, prefix) for t in CONSUMED),
            partners_listed=private(PARTNERS_LISTED, prefix),
        ),
    )
    sender = composed.sender
    sender.channels = {k: SlowCommit(v, delay) for k, v in sender.channels.items()}
    composed.service.run(composed.app)


if __name__ == "__main__":
    main()
