"""Admin APIs through each Python client that has them: CreatePartitions
(confluent-kafka, kafka-python, aiokafka; never fewer: INVALID_PARTITIONS),
DescribeProducers and OffsetDelete (kafka-python), and ListOffsets' max
timestamp (confluent-kafka's OffsetSpec.max_timestamp, ListOffsets v7)."""

from __future__ import annotations

import asyncio

import pytest

from helpers import create_topic

INVALID_PARTITIONS = 37


def partitions_of(addr: str, topic: str) -> int:
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": addr}).list_topics(topic, timeout=10)
    return len(md.topics[topic].partitions)


def test_confluent_kafka_create_partitions(weir):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewPartitions

    create_topic(weir.addr, "grows", 2)
    admin = AdminClient({"bootstrap.servers": weir.addr})
    admin.create_partitions([NewPartitions("grows", 4)])["grows"].result(timeout=20)
    assert partitions_of(weir.addr, "grows") == 4
    with pytest.raises(KafkaException) as e:
        admin.create_partitions([NewPartitions("grows", 3)])["grows"].result(timeout=20)
    assert e.value.args[0].code() == INVALID_PARTITIONS
    assert partitions_of(weir.addr, "grows") == 4


def test_kafka_python_create_partitions(weir):
    from kafka.admin import KafkaAdminClient
    from kafka.errors import InvalidPartitionsError

    create_topic(weir.addr, "grows-too", 1)
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        admin.create_partitions({"grows-too": 3})
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({"grows-too": 2})
    finally:
        admin.close()
    assert partitions_of(weir.addr, "grows-too") == 3


def test_aiokafka_create_partitions(weir):
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

    create_topic(weir.addr, "grows-async", 1)

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            await admin.create_partitions({"grows-async": NewPartitions(total_count=2)})
        finally:
            await admin.close()

    asyncio.run(run())
    assert partitions_of(weir.addr, "grows-async") == 2


def test_kafka_python_describe_producers(weir):
    from kafka import KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    create_topic(weir.addr, "idempotent", 1)
    # kafka-python 3 producers are idempotent by default.
    producer = KafkaProducer(bootstrap_servers=weir.addr, enable_idempotence=True)
    for i in range(5):
        producer.send("idempotent", value=f"v{i}".encode(), partition=0, timestamp_ms=1_700_000_000_000 + i)
    producer.flush(20)
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        described = admin.describe_producers([TopicPartition("idempotent", 0)])
    finally:
        admin.close()
    state = described[TopicPartition("idempotent", 0)]
    producers = state.active_producers
    assert len(producers) == 1, state
    assert producers[0].last_sequence == 4
    assert producers[0].last_timestamp == 1_700_000_000_004


def test_kafka_python_deletes_a_groups_offsets(weir):
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.structs import OffsetAndMetadata

    create_topic(weir.addr, "committed", 2)
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        offsets = {TopicPartition("committed", p): OffsetAndMetadata(5, "", -1) for p in (0, 1)}
        admin.alter_group_offsets("ledger", offsets)
        admin.delete_group_offsets("ledger", [TopicPartition("committed", 0)])
        left = admin.list_group_offsets("ledger")["ledger"]
    finally:
        admin.close()
    assert {tp.partition: o.offset for tp, o in left.items() if o.offset >= 0} == {1: 5}


def test_confluent_kafka_lists_the_offset_of_the_largest_timestamp(weir):
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    create_topic(weir.addr, "stamps", 1)
    producer = Producer({"bootstrap.servers": weir.addr, "linger.ms": 0})
    for i, ts in enumerate([1_000, 5_000, 3_000]):
        producer.produce("stamps", value=f"v{i}".encode(), partition=0, timestamp=ts)
        producer.flush(10)
    admin = AdminClient({"bootstrap.servers": weir.addr})
    tp = TopicPartition("stamps", 0)
    found = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(timeout=20)
    assert (found.offset, found.timestamp) == (1, 5_000)
