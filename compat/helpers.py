"""Shared test steps: topics, the keyed data set, and the checks run on what a
client consumed."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

import wire
from partitioning import partition_for

GROUP_APIS = (
    "FindCoordinator",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "OffsetCommit",
    "OffsetFetch",
)


def user_topics(names) -> set[str]:
    """Topic names without Kafka's internal ones (`__consumer_offsets`, ...), which a
    broker may list once it has created them."""
    return {n for n in names if not n.startswith("__")}


def require_apis(addr: str, *names: str) -> None:
    """Fails at once, naming what is missing, when the broker does not advertise an
    API the test needs; the clients would otherwise retry until a timeout."""
    missing = wire.missing_apis(addr, names)
    if missing:
        pytest.fail(f"weir does not advertise {', '.join(missing)}, which this test needs")


def create_topic(addr: str, name: str, partitions: int, config: dict | None = None) -> None:
    """Creates a topic with confluent-kafka's AdminClient and waits for it."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": addr})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10,
        request_timeout=15,
    )
    futures[name].result(timeout=20)
    md = admin.list_topics(name, timeout=10)
    assert len(md.topics[name].partitions) == partitions


def key_of(i: int) -> bytes:
    return f"key-{i}".encode()


def value_of(i: int) -> bytes:
    return f"value-{i:06d}".encode()


def seq_of(value: bytes) -> int:
    assert value.startswith(b"value-"), value
    return int(value[6:])


def high_watermarks(addr: str, topic: str, partitions: int) -> dict[int, int]:
    """{partition: high watermark}, by ListOffsets(latest) through confluent-kafka."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": addr})
    futures = admin.list_offsets(
        {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)},
        request_timeout=15,
    )
    return {tp.partition: f.result(timeout=20).offset for tp, f in futures.items()}


def check_keyed(consumed, n: int, partitions: int) -> None:
    """`consumed` is [(partition, offset, key, value)] in the order one client read
    them. Checks that the n keyed records came back exactly once, each in the
    partition Java's partitioner picks, each partition's offsets dense from 0 and in
    produce order."""
    seen: dict[int, tuple[int, int]] = {}
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    wrong_partition = []
    for partition, offset, key, value in consumed:
        seq = seq_of(value)
        assert key == key_of(seq), f"record {seq} has key {key!r}"
        assert seq not in seen, f"record {seq} consumed twice: {seen[seq]} and {(partition, offset)}"
        seen[seq] = (partition, offset)
        if partition != partition_for(key, partitions):
            wrong_partition.append((seq, partition, partition_for(key, partitions)))
        by_partition[partition].append((offset, seq))
    missing = sorted(set(range(n)) - set(seen))
    assert not missing, f"{len(missing)} of {n} records never consumed, first {missing[:10]}"
    assert len(seen) == n
    assert not wrong_partition, (
        f"{len(wrong_partition)} records not in Java's murmur2 partition "
        f"(seq, got, expected): {wrong_partition[:10]}"
    )
    for partition, rows in by_partition.items():
        offsets = [o for o, _ in rows]
        assert offsets == list(range(len(rows))), f"partition {partition}: offsets not dense from 0"
        seqs = [s for _, s in rows]
        assert seqs == sorted(seqs), f"partition {partition}: records out of produce order"
    assert set(by_partition) == set(range(partitions)), "some partition got no record"


class Deadline:
    """A bound for a polling loop."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def __bool__(self) -> bool:
        return time.monotonic() < self.end


def read_all(addr: str, topic: str, partitions: int, limit: float = 60.0):
    """Every record of `topic` up to the current high watermarks, as
    [(partition, offset, key, value)] in the order confluent-kafka delivered them."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    hw = high_watermarks(addr, topic, partitions)
    consumer = Consumer({"bootstrap.servers": addr, "group.id": "compat-read-all",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = []
    deadline = Deadline(limit)
    try:
        while len(out) < sum(hw.values()) and deadline:
            for m in consumer.consume(10_000, timeout=1.0):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.offset(), m.key(), m.value()))
    finally:
        consumer.close()
    assert len(out) == sum(hw.values()), f"read {len(out)} of {sum(hw.values())} records"
    return out
