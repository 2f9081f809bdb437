"""Deleting a partition's oldest records (DeleteRecords) with each client's admin
API, then reading: the earliest offset moves, consumers start there, and an
offset past the end is refused."""

from __future__ import annotations

import asyncio

import pytest

from helpers import create_topic

OFFSET_OUT_OF_RANGE = 1


def produce(addr: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": addr})
    for i in range(n):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
    assert producer.flush(20) == 0


def earliest(addr: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": addr, "group.id": "probe"})
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return low
    finally:
        consumer.close()


def test_confluent_kafka_delete_records(weir):
    from confluent_kafka import KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient

    create_topic(weir.addr, "logs", 1)
    produce(weir.addr, "logs", 10)
    admin = AdminClient({"bootstrap.servers": weir.addr})
    futures = admin.delete_records([TopicPartition("logs", 0, 6)], request_timeout=15)
    (result,) = futures.values()
    assert result.result(timeout=20).low_watermark == 6
    assert earliest(weir.addr, "logs") == 6
    futures = admin.delete_records([TopicPartition("logs", 0, 99)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        next(iter(futures.values())).result(timeout=20)
    assert e.value.args[0].code() == OFFSET_OUT_OF_RANGE


def test_kafka_python_delete_records_and_a_consumer_starts_there(weir):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    create_topic(weir.addr, "audit", 1)
    produce(weir.addr, "audit", 8)
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        answer = admin.delete_records({TopicPartition("audit", 0): 5})
        assert "5" in str(answer), answer
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=weir.addr, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    try:
        consumer.assign([TopicPartition("audit", 0)])
        values = [m.value for m in consumer]
    finally:
        consumer.close()
    assert values == [b"v5", b"v6", b"v7"]


def test_aiokafka_delete_records(weir):
    from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
    from aiokafka.structs import TopicPartition

    create_topic(weir.addr, "metrics", 1)
    produce(weir.addr, "metrics", 4)

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            return await admin.delete_records({TopicPartition("metrics", 0): RecordsToDelete(3)})
        finally:
            await admin.close()

    answer = asyncio.run(run())
    assert answer == {TopicPartition("metrics", 0): 3}, answer
    assert earliest(weir.addr, "metrics") == 3
