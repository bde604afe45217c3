"""The broker is a real Kafka: idempotent acks=all producers, consumer groups, committed offsets."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from signaalpunt_runtime.broker_factory import client_options
from signaalpunt_testkit.plugin import Infra, TopicFactory


async def test_idempotent_producer_and_group_commit(
    infra: Infra, kafka_topics: TopicFactory
) -> None:
    (topic,) = await kafka_topics("smoke", partitions=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        **client_options(),
    )
    await producer.start()
    try:
        for i in range(300):
            await producer.send(topic, key=f"k{i % 7}".encode(), value=f"m{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id="smoke-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    await consumer.start()
    seen: list[str] = []
    try:
        while len(seen) < 300:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"consumer stalled after {len(seen)} messages"
            for records in batch.values():
                seen.extend(bytes(r.value or b"").decode() for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted(seen) == sorted(f"m{i}" for i in range(300))
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap, **client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets("smoke-group")
    finally:
        await admin.close()
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    assert sum(committed.values()) == 300, committed


async def test_same_key_stays_on_one_partition_in_order(
    infra: Infra, kafka_topics: TopicFactory
) -> None:
    (topic,) = await kafka_topics("ordering", partitions=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        **client_options(),
    )
    await producer.start()
    try:
        for i in range(50):
            await producer.send(topic, key=b"signal-1", value=str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False, **client_options()
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        got: dict[int, list[int]] = {}
        while sum(len(v) for v in got.values()) < 50:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch
            for tp, records in batch.items():
                got.setdefault(tp.partition, []).extend(int(r.value or b"-1") for r in records)
    finally:
        await consumer.stop()
    assert len(got) == 1, "one key must land on one partition"
    assert next(iter(got.values())) == list(range(50))
