"""Record shapes and fetch edge cases: compression codecs, headers (duplicate keys
too), null keys and values, a fetch that starts mid-batch, a batch bigger than the
consumer's per-partition fetch size, a batch over the broker's limit, acks=0,
long-polling fetches, earliest/latest offsets, and data across a clean restart."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from helpers import Deadline, create_topic, high_watermarks, read_all


def confluent_producer(addr: str, **config):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": addr, "linger.ms": 5, "enable.idempotence": False,
                     **config})


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches(weir, codec):
    create_topic(weir.addr, "zipped", 2)
    producer = confluent_producer(weir.addr, **{"compression.type": codec})
    values = [b"%s-%05d-" % (codec.encode(), i) + b"x" * (i % 300) for i in range(5000)]
    for i, v in enumerate(values):
        producer.produce("zipped", key=b"%d" % i, value=v, partition=i % 2)
    assert producer.flush(30) == 0
    got = read_all(weir.addr, "zipped", 2)
    by_partition = {p: [v for q, _, _, v in got if q == p] for p in range(2)}
    assert by_partition == {p: values[p::2] for p in range(2)}
    # kcat (librdkafka 2.0) reads the same batches.
    out = subprocess.run(
        ["kcat", "-b", weir.addr, "-C", "-t", "zipped", "-o", "beginning", "-e", "-q",
         "-f", "%s\\n"], capture_output=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert sorted(out.stdout.splitlines()) == sorted(values)


def test_kafka_python_gzip(weir):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    create_topic(weir.addr, "kp-gzip", 1)
    producer = KafkaProducer(bootstrap_servers=weir.addr, compression_type="gzip",
                             enable_idempotence=False, linger_ms=5)
    values = [b"gz-%05d" % i + b"y" * (i % 100) for i in range(3000)]
    for v in values:
        producer.send("kp-gzip", value=v)
    producer.flush(timeout=30)
    producer.close(timeout=10)
    assert [v for _, _, _, v in read_all(weir.addr, "kp-gzip", 1)] == values
    consumer = KafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
    consumer.assign([TopicPartition("kp-gzip", 0)])
    consumer.seek_to_beginning()
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < len(values) and deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    assert got == values


def test_headers_nulls_and_tombstones(weir):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    create_topic(weir.addr, "shapes", 1)
    producer = confluent_producer(weir.addr)
    producer.produce("shapes", key=None, value=b"no key")
    producer.produce("shapes", key=b"tombstone", value=None)
    producer.produce("shapes", key=b"", value=b"")
    producer.produce("shapes", key=b"h", value=b"headers",
                     headers=[("dup", b"1"), ("dup", b"2"), ("empty", b""), ("none", None)])
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-shapes",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("shapes", 0, OFFSET_BEGINNING)])
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < 4 and deadline:
            for m in consumer.consume(10, timeout=0.5):
                assert m.error() is None, m.error()
                got.append((m.key(), m.value(), m.headers()))
    finally:
        consumer.close()
    assert got == [
        (None, b"no key", None),
        (b"tombstone", None, None),
        (b"", b"", None),
        (b"h", b"headers", [("dup", b"1"), ("dup", b"2"), ("empty", b""), ("none", None)]),
    ]


def test_fetch_from_the_middle_of_a_batch(weir):
    """The broker returns whole batches; each client skips the records before the
    offset it asked for."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition
    from confluent_kafka import Consumer, TopicPartition
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KpTopicPartition

    create_topic(weir.addr, "mid", 1)
    producer = confluent_producer(weir.addr, **{"linger.ms": 1000, "batch.num.messages": 100})
    for i in range(100):
        producer.produce("mid", value=b"%d" % i, partition=0)
    assert producer.flush(30) == 0
    # One batch of 100 records: offsets 0..99.
    start = 37

    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-mid",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("mid", 0, start)])
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < 100 - start and deadline:
            got += [(m.offset(), m.value()) for m in consumer.consume(100, timeout=0.5)]
    finally:
        consumer.close()
    assert got == [(i, b"%d" % i) for i in range(start, 100)]

    kp = KafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
    kp.assign([KpTopicPartition("mid", 0)])
    kp.seek(KpTopicPartition("mid", 0), start)
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < 100 - start and deadline:
            for records in kp.poll(timeout_ms=500).values():
                got += [(r.offset, r.value) for r in records]
    finally:
        kp.close()
    assert got == [(i, b"%d" % i) for i in range(start, 100)]

    import asyncio

    async def aio():
        c = AIOKafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
        await c.start()
        out = []
        try:
            c.assign([AioTopicPartition("mid", 0)])
            c.seek(AioTopicPartition("mid", 0), start)
            deadline = Deadline(30)
            while len(out) < 100 - start and deadline:
                for records in (await c.getmany(timeout_ms=500)).values():
                    out += [(r.offset, r.value) for r in records]
        finally:
            await c.stop()
        return out

    assert asyncio.run(asyncio.wait_for(aio(), 60)) == [(i, b"%d" % i) for i in range(start, 100)]


def test_batch_larger_than_the_consumers_partition_fetch_size(weir_factory):
    """KIP-74: the first batch goes out whole even when it is over
    max.partition.fetch.bytes, or the consumer would be stuck."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    weir = weir_factory("--max-message-bytes", "4000000")
    create_topic(weir.addr, "big", 1)
    producer = confluent_producer(weir.addr, **{"message.max.bytes": 5_000_000,
                                               "compression.type": "none"})
    big = bytes(range(256)) * 8192  # 2 MiB
    producer.produce("big", value=big)
    producer.produce("big", value=b"after")
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-big",
                         "enable.auto.commit": False, "max.partition.fetch.bytes": 65536,
                         "fetch.max.bytes": 1_000_000})
    consumer.assign([TopicPartition("big", 0, OFFSET_BEGINNING)])
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < 2 and deadline:
            for m in consumer.consume(10, timeout=0.5):
                assert m.error() is None, m.error()
                got.append(m.value())
    finally:
        consumer.close()
    assert got == [big, b"after"]


def test_batch_over_the_broker_limit_is_refused(weir):
    from confluent_kafka import KafkaError

    create_topic(weir.addr, "limited", 1)
    producer = confluent_producer(weir.addr, **{"message.max.bytes": 5_000_000,
                                               "compression.type": "none"})
    errors = []
    producer.produce("limited", value=b"z" * 2_000_000,
                     on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors[0]
    assert high_watermarks(weir.addr, "limited", 1) == {0: 0}
    producer.produce("limited", value=b"small", on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(30) == 0
    assert errors[1] is None


def test_acks_zero(weir):
    create_topic(weir.addr, "fire-and-forget", 1)
    lines = b"".join(b"%d\n" % i for i in range(1000))
    out = subprocess.run(
        ["kcat", "-b", weir.addr, "-P", "-t", "fire-and-forget", "-X", "acks=0"],
        input=lines, capture_output=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    deadline = Deadline(10)
    while high_watermarks(weir.addr, "fire-and-forget", 1)[0] < 1000 and deadline:
        time.sleep(0.1)
    assert [v for _, _, _, v in read_all(weir.addr, "fire-and-forget", 1)] == [
        b"%d" % i for i in range(1000)
    ]


def test_long_poll_fetch_wakes_on_produce(weir):
    """A consumer waiting on an empty partition gets a record produced later."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    create_topic(weir.addr, "waiting", 1)
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-wait",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5000})
    consumer.assign([TopicPartition("waiting", 0, OFFSET_BEGINNING)])
    got = []

    def produce_later():
        time.sleep(1.0)
        producer = confluent_producer(weir.addr)
        producer.produce("waiting", value=b"late")
        producer.flush(10)

    t = threading.Thread(target=produce_later)
    t.start()
    deadline = Deadline(30)
    try:
        while not got and deadline:
            got += [m.value() for m in consumer.consume(1, timeout=0.5) if m.error() is None]
    finally:
        consumer.close()
        t.join()
    assert got == [b"late"]


def test_earliest_and_latest_offsets(weir):
    from kafka import KafkaConsumer, TopicPartition

    create_topic(weir.addr, "ends", 3)
    producer = confluent_producer(weir.addr)
    for p, n in enumerate([0, 7, 1234]):
        for i in range(n):
            producer.produce("ends", value=b"%d" % i, partition=p)
    assert producer.flush(30) == 0
    assert high_watermarks(weir.addr, "ends", 3) == {0: 0, 1: 7, 2: 1234}
    consumer = KafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
    try:
        tps = [TopicPartition("ends", p) for p in range(3)]
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert consumer.end_offsets(tps) == dict(zip(tps, [0, 7, 1234]))
    finally:
        consumer.close()
    out = subprocess.run(
        ["kcat", "-b", weir.addr, "-C", "-t", "ends", "-p", "0", "-o", "beginning", "-e", "-q"],
        capture_output=True, timeout=30,
    )
    assert out.returncode == 0 and out.stdout == b"", out


def test_records_survive_a_clean_restart(weir):
    create_topic(weir.addr, "kept", 2)
    producer = confluent_producer(weir.addr)
    for i in range(2000):
        producer.produce("kept", value=b"%d" % i, partition=i % 2)
    assert producer.flush(30) == 0
    before = sorted(read_all(weir.addr, "kept", 2))
    weir.restart()
    assert sorted(read_all(weir.addr, "kept", 2)) == before
    # And the log goes on from where it was.
    for i in range(2000, 2010):
        producer.produce("kept", value=b"%d" % i, partition=0)
    assert producer.flush(30) == 0
    assert high_watermarks(weir.addr, "kept", 2) == {0: 1010, 1: 1000}


def test_fetch_out_of_range_resets_to_earliest(weir):
    from confluent_kafka import Consumer, TopicPartition

    create_topic(weir.addr, "short", 1)
    producer = confluent_producer(weir.addr)
    for i in range(10):
        producer.produce("short", value=b"%d" % i)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-reset",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("short", 0, 1000)])
    got = []
    deadline = Deadline(30)
    try:
        while len(got) < 10 and deadline:
            got += [(m.offset(), m.value()) for m in consumer.consume(10, timeout=0.5)
                    if m.error() is None]
    finally:
        consumer.close()
    assert got == [(i, b"%d" % i) for i in range(10)]
