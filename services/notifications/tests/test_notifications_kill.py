"""kill -9 while messages go out: no message is lost, and a second copy only ever carries the
same Message-ID / webhook-id / SMS reference as the first.

The service runs as its own process and is killed with SIGKILL at random moments while it sends
(no shutdown code runs; PostgreSQL aborts the transactions in flight, releasing their claims).
A copy can only be doubled when the kill falls between the receiver's acceptance and the commit
of the delivery log; the test widens that window and counts.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from notifications_harness import (
    PARTNER_URN,
    acute,
    envelope,
    eventually,
    private_topics,
    received_signal,
    rejected,
    write_partners,
)
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import Envelope
from signaalpunt_notifications.sinks import Sinks, free_port
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_privacy.keys import MIGRATIONS as KEY_STORE_MIGRATIONS
from signaalpunt_privacy.keys import SCHEMA as KEY_STORE_SCHEMA
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.processes import KillableProcess

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "notifications_killable_app.py"
DOMAIN = "notifications.signaalpunt.example"
REPORTERS, ALERTS, REFUSALS = 40, 15, 15
EXPECTED = REPORTERS + 2 * ALERTS + REFUSALS  # acute alerts go by e-mail and SMS
KILLS = 5
WORKERS = 2
ACUTE_WORKERS = 1  # the acute lane's own sender, in flight beside the others
BATCH = 2  # messages a sender claims and commits together: all of them are in flight at a kill


async def _count(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('notifications.deliveries') IS NOT NULL"):
            return 0
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _sent(dsn: str) -> int:
    return await _count(dsn, "SELECT count(*) FROM notifications.deliveries WHERE status = 'sent'")


async def test_killed_repeatedly_while_sending_loses_nothing_and_duplicates_keep_their_id(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> None:
    # a slow-ish receiver, so kills land while messages are on the wire
    def responder(_path: str, _headers: dict[str, str], _body: bytes) -> int:
        import time

        time.sleep(0.03)
        return 200

    sinks = Sinks(responder=responder).start()
    topics = await private_topics(kafka_topics)
    prefix = topics.received.name.removesuffix(".signals.received.v1")
    kek = KeyEncryptionKeys.generate_spec("kill")
    generate_key_pair(tmp_path)
    await upgrade_async(KEY_STORE_MIGRATIONS, database_url, KEY_STORE_SCHEMA)
    key_store = PostgresSubjectKeyStore.with_own_pool(
        database_url, KeyEncryptionKeys.from_spec(kek)
    )
    await key_store.open()
    vault = PersonalDataVault(key_store)

    events: list[Envelope[Any]] = []
    for i in range(REPORTERS):
        subject = uuid4()
        email = await vault.seal(
            subject, "GM0715", f"melder-{i}@example.org", field="reporter.email"
        )
        events.append(envelope(received_signal(subject_id=subject, email=email)))
    events += [envelope(acute(uuid4(), uuid4())) for _ in range(ALERTS)]
    events += [envelope(rejected(PARTNER_URN)) for _ in range(REFUSALS)]
    await key_store.close()
    producer = make_producer(infra.kafka_bootstrap, client_id="kill-test")
    await producer.start()
    try:
        for event in events:
            key = str(getattr(event.data, "signal_id", None) or event.data.partner)
            topic = topics.for_payload(event.data)
            await producer.send_and_wait(
                topic.name, event.model_dump_json().encode(), key=key.encode()
            )
    finally:
        await producer.stop()

    service = KillableProcess(
        APP,
        {
            "SIGNAALPUNT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "SIGNAALPUNT_DATABASE_URL": database_url,
            "SIGNAALPUNT_NOTIFICATIONS_KEY_ENCRYPTION_KEYS": kek,
            "SIGNAALPUNT_NOTIFICATIONS_JWKS_FILE": str(tmp_path / "jwks.json"),
            "SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE": str(write_partners(tmp_path, sinks)),
            "SIGNAALPUNT_NOTIFICATIONS_SMTP_PORT": str(sinks.smtp_port),
            "SIGNAALPUNT_NOTIFICATIONS_SMS_GATEWAY_URL": sinks.sms_url,
            "SIGNAALPUNT_NOTIFICATIONS_HTTP_PORT": str(free_port()),
            "SIGNAALPUNT_NOTIFICATIONS_MANAGEMENT_PORT": str(free_port()),
            "SIGNAALPUNT_NOTIFICATIONS_SENDER_POLL_INTERVAL": "0.1",
            "SIGNAALPUNT_NOTIFICATIONS_SENDER_WORKERS": str(WORKERS),
            "SIGNAALPUNT_NOTIFICATIONS_ACUTE_SENDER_WORKERS": str(ACUTE_WORKERS),
            "SIGNAALPUNT_NOTIFICATIONS_SENDER_BATCH_SIZE": str(BATCH),
            "SIGNAALPUNT_NOTIFICATIONS_BACKOFF_INITIAL": "PT0.2S",
            "SIGNAALPUNT_NOTIFICATIONS_BACKOFF_MAX": "PT1S",
            "SIGNAALPUNT_NOTIFICATIONS_RATE_LIMIT": "10000",
            "NOTIFICATIONS_TEST_TOPIC_PREFIX": prefix,
            "NOTIFICATIONS_TEST_AFTER_SEND_DELAY": "0.5",
        },
        tmp_path,
    )
    rng = random.Random(20261123)
    kills = 0
    progress: list[int] = []  # messages sent (committed) at each kill
    try:
        # each run: start (importing takes seconds on a busy machine), wait until this process
        # sends, let it send a little, kill it mid-stream
        for _ in range(KILLS):
            service.start()
            before = await _sent(database_url)

            async def sending(before: int = before) -> bool:
                return await _sent(database_url) > before

            await eventually(sending, timeout=120, what="the restarted service sending")
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            progress.append(await _sent(database_url))
            if progress[-1] >= EXPECTED:
                break
            service.kill()
            kills += 1
        if service.proc is None or service.proc.poll() is not None:
            service.start()

        async def all_sent() -> bool:
            return await _sent(database_url) >= EXPECTED

        await eventually(all_sent, timeout=180, what="every message sent")
        await asyncio.sleep(1)
    finally:
        service.stop()
        sinks.stop()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT delivery_id, reason_event_id, template, channel FROM notifications.deliveries"
        )
    finally:
        await conn.close()
    assert len(rows) == EXPECTED
    reasons = {ev.event_id for ev in events}
    assert {r["reason_event_id"] for r in rows} == reasons
    known = {str(r["delivery_id"]) for r in rows}

    received = sinks.received
    ids = [m.message_id.removeprefix("<").removesuffix(f"@{DOMAIN}>") for m in received.mails]
    ids += [r.json()["reference"] for r in received.sms]
    ids += [r.headers["webhook-id"] for r in received.webhooks]
    copies = Counter(ids)
    # every message arrived at least once …
    assert set(copies) == known, "a message was lost, or one arrived under an unknown id"
    # … and a second copy is the same message under the same id: never a new id for a reason
    assert len(copies) == EXPECTED
    duplicates = sum(n - 1 for n in copies.values())
    # a copy is doubled only by a kill between acceptance and commit: at most a batch per
    # sender in flight (the ordinary workers and the acute lane's)
    assert duplicates <= kills * (WORKERS + ACUTE_WORKERS) * BATCH
    # every kill fell in a run that was sending (it had sent, and was not done)
    mid_send = sum(1 for at in progress if at < EXPECTED)
    assert mid_send >= 3, (
        f"the test must kill the service while it sends (sent at kills: {progress})"
    )
    print(
        f"killed the service {kills} times ({mid_send} while sending; sent at each kill: "
        f"{progress}); {EXPECTED} messages ({REPORTERS} e-mails "
        f"to reporters, {ALERTS} alerts by e-mail and SMS, {REFUSALS} webhooks); receivers got "
        f"{len(ids)} copies: {EXPECTED} distinct ids, {duplicates} duplicates, each carrying the "
        f"id of an earlier copy"
    )
