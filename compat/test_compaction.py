"""Log compaction seen by real clients: a topic created with cleanup.policy=compact
keeps each key's latest record (offsets kept, with gaps), tombstones go, and
confluent-kafka and kafka-python consumers read the compacted log from the start
to the same records; a keyless record is refused with INVALID_RECORD."""

from __future__ import annotations

import re
import time
import urllib.request

from helpers import create_topic

TOPIC = "prices"
KEYS = 20
RECORDS = 2_000
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": "2048",
    "min.cleanable.dirty.ratio": "0",
    "delete.retention.ms": "0",
}


def counter(weir, name: str) -> int:
    with urllib.request.urlopen(f"{weir.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\d+)$", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def produce(addr: str) -> dict[bytes, bytes | None]:
    """Produces RECORDS keyed records (one in nine a tombstone); returns each
    key's latest value."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": addr, "linger.ms": 5})
    latest: dict[bytes, bytes | None] = {}
    for i in range(RECORDS):
        key = f"sku-{i % KEYS}".encode()
        value = None if i % 9 == 4 else f"price-{i}".encode()
        producer.produce(TOPIC, key=key, value=value, partition=0)
        latest[key] = value
    assert producer.flush(30) == 0
    return latest


def replay(records) -> dict[bytes, bytes]:
    live: dict[bytes, bytes] = {}
    for _offset, key, value in records:
        if value is None:
            live.pop(key, None)
        else:
            live[key] = value
    return live


def read_confluent(addr: str, end: int):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": addr, "group.id": "reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    records = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            records.append((msg.offset(), msg.key(), msg.value()))
            if msg.offset() == end - 1:
                return records
        raise AssertionError(f"confluent-kafka read {len(records)} records, not up to {end}")
    finally:
        consumer.close()


def read_kafka_python(addr: str, end: int):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False)
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((r.offset, r.key, r.value) for r in batch)
            if records and records[-1][0] == end - 1:
                return records
        raise AssertionError(f"kafka-python read {len(records)} records, not up to {end}")
    finally:
        consumer.close()


def test_a_compacted_topic_keeps_each_keys_latest_record(weir_factory):
    from confluent_kafka import Consumer, TopicPartition

    weir = weir_factory("--cleaner-backoff-ms", "50")
    create_topic(weir.addr, TOPIC, 1, COMPACTED)
    latest = produce(weir.addr)
    live = {k: v for k, v in latest.items() if v is not None}

    # The cleaner runs every 50 ms: wait for it to have removed most records.
    deadline = time.monotonic() + 60
    while counter(weir, "weir_log_cleaner_records_removed_total") < RECORDS // 2:
        assert time.monotonic() < deadline, "the cleaner removed too little within 60 s"
        time.sleep(0.05)

    probe = Consumer({"bootstrap.servers": weir.addr, "group.id": "probe"})
    _low, high = probe.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    probe.close()
    assert high == RECORDS, "offsets are kept: the high watermark does not move"

    records = read_confluent(weir.addr, high)
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(set(offsets)), "offsets only go up"
    assert len(records) < RECORDS // 2, f"{len(records)} records left of {RECORDS}"
    assert replay(records) == live
    # Each record is the one produced at its offset.
    for offset, key, value in records:
        assert key == f"sku-{offset % KEYS}".encode()
        assert value == (None if offset % 9 == 4 else f"price-{offset}".encode())

    assert read_kafka_python(weir.addr, high) == records


def test_a_keyless_record_is_refused_by_a_compacted_topic(weir):
    from confluent_kafka import KafkaError, Producer

    create_topic(weir.addr, TOPIC, 1, COMPACTED)
    producer = Producer({"bootstrap.servers": weir.addr, "retries": 0})
    errors = []
    # One at a time: a batch with a keyless record is refused whole, as in Kafka.
    producer.produce(TOPIC, value=b"no key", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(20)
    producer.produce(TOPIC, key=b"k", value=b"keyed", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(20)
    assert len(errors) == 2
    codes = [e.code() if e else 0 for e in errors]
    assert codes == [KafkaError.INVALID_RECORD, 0], errors
