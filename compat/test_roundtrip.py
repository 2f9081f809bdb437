"""100,000 keyed records produced and consumed back by each client: every record
once, in the partition Java's murmur2 partitioner picks, in produce order within a
partition, offsets dense from 0."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from helpers import Deadline, check_keyed, create_topic, high_watermarks, key_of, value_of

N = 100_000
PARTITIONS = 4
TOPIC = "roundtrip"
CONSUME_LIMIT = 60.0  # seconds: a bound for the consume loops, not a performance target

pytestmark = pytest.mark.timeout(150)


def assert_stored(addr: str) -> None:
    hw = high_watermarks(addr, TOPIC, PARTITIONS)
    assert sum(hw.values()) == N, f"high watermarks {hw} do not add up to {N}"


def test_confluent_kafka(weir):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    create_topic(weir.addr, TOPIC, PARTITIONS)
    producer = Producer({
        "bootstrap.servers": weir.addr,
        "partitioner": "murmur2_random",
        "acks": "all",
        "linger.ms": 5,
        "enable.idempotence": False,
    })
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(N):
        for _ in range(1000):
            try:
                producer.produce(TOPIC, key=key_of(i), value=value_of(i), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        else:
            pytest.fail("the producer queue stayed full")
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0, "records still undelivered after 60 s"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]}"
    assert_stored(weir.addr)

    consumer = Consumer({
        "bootstrap.servers": weir.addr,
        "group.id": "compat-roundtrip",  # required by the client; assign() uses no group
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    consumed = []
    deadline = Deadline(CONSUME_LIMIT)
    try:
        while len(consumed) < N and deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                assert msg.error() is None, msg.error()
                consumed.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    check_keyed(consumed, N, PARTITIONS)


def test_kafka_python(weir):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    create_topic(weir.addr, TOPIC, PARTITIONS)
    # kafka-python 3 turns idempotence on by default; this test is about plain
    # produce and fetch (idempotence has its own tests).
    producer = KafkaProducer(
        bootstrap_servers=weir.addr, acks="all", linger_ms=5, enable_idempotence=False
    )
    errors = []
    futures = []
    for i in range(N):
        f = producer.send(TOPIC, key=key_of(i), value=value_of(i))
        f.add_errback(errors.append)
        futures.append(f)
    producer.flush(timeout=60)
    producer.close(timeout=10)
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]!r}"
    assert all(f.is_done for f in futures)
    assert_stored(weir.addr)

    consumer = KafkaConsumer(
        bootstrap_servers=weir.addr, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    consumed = []
    deadline = Deadline(CONSUME_LIMIT)
    try:
        while len(consumed) < N and deadline:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=10_000).items():
                consumed.extend((tp.partition, r.offset, r.key, r.value) for r in records)
    finally:
        consumer.close()
    check_keyed(consumed, N, PARTITIONS)


def test_aiokafka(weir):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    create_topic(weir.addr, TOPIC, PARTITIONS)

    async def produce():
        producer = AIOKafkaProducer(
            bootstrap_servers=weir.addr, acks="all", linger_ms=5, enable_idempotence=False
        )
        await producer.start()
        try:
            pending = []
            for i in range(N):
                pending.append(await producer.send(TOPIC, key=key_of(i), value=value_of(i)))
                if len(pending) >= 5000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    async def consume():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=weir.addr, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        consumed = []
        try:
            consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
            await consumer.seek_to_beginning()
            deadline = Deadline(CONSUME_LIMIT)
            while len(consumed) < N and deadline:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                for tp, records in batches.items():
                    consumed.extend((tp.partition, r.offset, r.key, r.value) for r in records)
        finally:
            await consumer.stop()
        return consumed

    asyncio.run(asyncio.wait_for(produce(), 120))
    assert_stored(weir.addr)
    consumed = asyncio.run(asyncio.wait_for(consume(), CONSUME_LIMIT + 30))
    check_keyed(consumed, N, PARTITIONS)


def test_kcat(weir):
    create_topic(weir.addr, TOPIC, PARTITIONS)
    lines = b"".join(key_of(i) + b":" + value_of(i) + b"\n" for i in range(N))
    produced = subprocess.run(
        ["kcat", "-b", weir.addr, "-P", "-t", TOPIC, "-K:",
         "-X", "partitioner=murmur2_random", "-X", "linger.ms=5"],
        input=lines, capture_output=True, timeout=120,
    )
    assert produced.returncode == 0, produced.stderr.decode(errors="replace")
    assert_stored(weir.addr)

    consumed_out = subprocess.run(
        ["kcat", "-b", weir.addr, "-C", "-t", TOPIC, "-o", "beginning", "-e", "-q",
         "-f", "%p %o %k %s\\n"],
        capture_output=True, timeout=CONSUME_LIMIT,
    )
    assert consumed_out.returncode == 0, consumed_out.stderr.decode(errors="replace")
    consumed = []
    for line in consumed_out.stdout.splitlines():
        partition, offset, key, value = line.split(b" ")
        consumed.append((int(partition), int(offset), key, value))
    check_keyed(consumed, N, PARTITIONS)
