"""ListOffsets by timestamp: the first offset whose record timestamp is at or
after the time asked for, -1 (or None) past the last record; kcat -Q and each
Python client's offsets_for_times."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from helpers import create_topic

TOPIC = "times"
PARTITIONS = 2
PER_PARTITION = 200
BASE = 1_700_000_000_000  # ms


def ts_of(partition: int, i: int) -> int:
    # Strictly increasing per partition, 1 s apart, different in each partition.
    return BASE + i * 1000 + partition * 7


def expected_offset(partition: int, target: int) -> int:
    for i in range(PER_PARTITION):
        if ts_of(partition, i) >= target:
            return i
    return -1


# (partition, target): before everything, exact hits on batch edges and inside
# batches (records go in batches of 50), between two records, the last, past the end.
QUERIES = [
    (0, 0),
    (0, BASE - 1),
    (0, ts_of(0, 0)),
    (0, ts_of(0, 1)),
    (0, ts_of(0, 37)),
    (0, ts_of(0, 50)),
    (0, ts_of(0, 73) - 500),
    (0, ts_of(0, 199)),
    (0, ts_of(0, 199) + 1),
    (1, ts_of(1, 0) - 1),
    (1, ts_of(1, 49)),
    (1, ts_of(1, 151) - 3),
    (1, ts_of(1, 199) + 1000),
]


@pytest.fixture
def weir_with_times(weir):
    from confluent_kafka import Producer

    create_topic(weir.addr, TOPIC, PARTITIONS)
    producer = Producer({"bootstrap.servers": weir.addr, "linger.ms": 50})
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            producer.produce(TOPIC, value=b"%d-%d" % (p, i), partition=p, timestamp=ts_of(p, i))
            if i % 50 == 49:
                assert producer.flush(30) == 0
    assert producer.flush(30) == 0
    return weir


def test_records_keep_their_create_time(weir_with_times):
    from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": weir_with_times.addr, "group.id": "compat-times",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    seen = {}
    try:
        for _ in range(30):
            for m in consumer.consume(1000, timeout=1.0):
                assert m.error() is None, m.error()
                seen[(m.partition(), m.offset())] = m.timestamp()
            if len(seen) == PARTITIONS * PER_PARTITION:
                break
    finally:
        consumer.close()
    assert seen == {
        (p, i): (TIMESTAMP_CREATE_TIME, ts_of(p, i))
        for p in range(PARTITIONS) for i in range(PER_PARTITION)
    }


def test_kcat_query(weir_with_times):
    # One query per run: kcat prints `times [0] offset 37` per partition.
    for p, target in QUERIES:
        out = subprocess.run(
            ["kcat", "-b", weir_with_times.addr, "-Q", "-t", f"{TOPIC}:{p}:{target}"],
            capture_output=True, timeout=30,
        )
        assert out.returncode == 0, out.stderr.decode(errors="replace")
        got = out.stdout.decode().strip()
        assert got == f"{TOPIC} [{p}] offset {expected_offset(p, target)}", (p, target, got)


def test_kcat_query_two_partitions_at_once(weir_with_times):
    t0, t1 = ts_of(0, 120) - 1, ts_of(1, 9)
    out = subprocess.run(
        ["kcat", "-b", weir_with_times.addr, "-Q",
         "-t", f"{TOPIC}:0:{t0}", "-t", f"{TOPIC}:1:{t1}"],
        capture_output=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    lines = sorted(line.strip() for line in out.stdout.decode().splitlines() if line.strip())
    assert lines == [f"{TOPIC} [0] offset 120", f"{TOPIC} [1] offset 9"]


def test_confluent_kafka_offsets_for_times(weir_with_times):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": weir_with_times.addr, "group.id": "compat-times",
                         "enable.auto.commit": False})
    try:
        for p, target in QUERIES:
            [tp] = consumer.offsets_for_times([TopicPartition(TOPIC, p, target)], timeout=10)
            assert tp.error is None, tp.error
            assert tp.offset == expected_offset(p, target), (p, target)
    finally:
        consumer.close()


def test_kafka_python_offsets_for_times(weir_with_times):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=weir_with_times.addr, group_id=None)
    try:
        for p, target in QUERIES:
            tp = TopicPartition(TOPIC, p)
            found = consumer.offsets_for_times({tp: target})[tp]
            expected = expected_offset(p, target)
            if expected == -1:
                assert found is None, (p, target, found)
            else:
                assert found is not None, (p, target)
                assert (found.offset, found.timestamp) == (expected, ts_of(p, expected))
    finally:
        consumer.close()


def test_aiokafka_offsets_for_times(weir_with_times):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def check():
        consumer = AIOKafkaConsumer(bootstrap_servers=weir_with_times.addr, group_id=None)
        await consumer.start()
        try:
            for p, target in QUERIES:
                tp = TopicPartition(TOPIC, p)
                found = (await consumer.offsets_for_times({tp: target}))[tp]
                expected = expected_offset(p, target)
                if expected == -1:
                    assert found is None, (p, target, found)
                else:
                    assert found is not None, (p, target)
                    assert (found.offset, found.timestamp) == (expected, ts_of(p, expected))
        finally:
            await consumer.stop()

    asyncio.run(asyncio.wait_for(check(), 60))


def test_confluent_kafka_list_offsets_max_timestamp(weir):
    """ListOffsets v7: the record with the largest timestamp (KIP-734)."""
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    from helpers import create_topic

    create_topic(weir.addr, "stamped", 1)
    producer = Producer({"bootstrap.servers": weir.addr})
    for i, ts in enumerate([1_000, 5_000, 3_000, 5_000, 2_000]):
        producer.produce("stamped", value=f"v{i}".encode(), partition=0, timestamp=1_700_000_000_000 + ts)
    assert producer.flush(20) == 0
    admin = AdminClient({"bootstrap.servers": weir.addr})
    tp = TopicPartition("stamped", 0)
    result = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(timeout=20)
    assert (result.offset, result.timestamp) == (1, 1_700_000_005_000)
    earliest = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=20)
    assert earliest.offset == 0
