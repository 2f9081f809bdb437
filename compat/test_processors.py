"""A processor seen from real Kafka clients: deployed with `weir processor
deploy`, fed by confluent-kafka, its output read by kafka-python, its progress
visible as a consumer group (ListGroups, DescribeGroups, OffsetFetch), and
no record processed twice across a broker restart."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO
from helpers import Deadline, create_topic, high_watermarks, key_of, value_of

GUEST = REPO / "target" / "wasm-guests" / "wasm32-wasip2" / "release" / "weir_passthrough.wasm"


def produce(addr: str, first: int, n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": addr, "linger.ms": 5})
    for i in range(first, first + n):
        producer.produce("in", key=key_of(i), value=value_of(i))
    assert producer.flush(30) == 0


def committed(addr: str, group: str) -> dict[int, int]:
    """The group's committed offsets on `in`, by confluent-kafka's AdminClient."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": addr})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition("in", p) for p in range(3)])
    result = admin.list_consumer_group_offsets([request])[group].result(timeout=20)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def wait_committed(addr: str, group: str, total: int) -> dict[int, int]:
    deadline = Deadline(60)
    while deadline:
        offsets = committed(addr, group)
        if sum(max(o, 0) for o in offsets.values()) == total:
            return offsets
        time.sleep(0.2)
    raise AssertionError(f"{group} committed {committed(addr, group)}, wanted {total} in all")


def copies(addr: str) -> list[bytes]:
    """Every value in `copies`, read with kafka-python."""
    from kafka import KafkaConsumer, TopicPartition

    hw = high_watermarks(addr, "copies", 1)[0]
    consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    tp = TopicPartition("copies", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = []
    try:
        for message in consumer:
            values.append(message.value)
            if len(values) == hw:
                break
    finally:
        consumer.close()
    return values


@pytest.mark.skipif(not GUEST.is_file(), reason=f"{GUEST} not built (cargo build builds it)")
def test_processor_is_a_consumer_group_and_resumes_after_restart(weir, weir_bin):
    create_topic(weir.addr, "in", 3)
    create_topic(weir.addr, "copies", 1)
    deploy = subprocess.run(
        [weir_bin, "processor", "--http", weir.http_url, "deploy", str(GUEST),
         "--name", "copier", "--input", "in", "--output-topic", "copies", "--config", "output=copies"],
        capture_output=True, text=True, timeout=120,
    )
    assert deploy.returncode == 0, deploy.stderr
    produce(weir.addr, 0, 1000)
    offsets = wait_committed(weir.addr, "copier", 1000)
    assert offsets == high_watermarks(weir.addr, "in", 3)
    assert sorted(copies(weir.addr)) == sorted(value_of(i) for i in range(1000))

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": weir.addr})
    listed = admin.list_consumer_groups(request_timeout=15).result(timeout=20)
    assert "copier" in [g.group_id for g in listed.valid]
    described = admin.describe_consumer_groups(["copier"])["copier"].result(timeout=20)
    assert described.group_id == "copier" and described.members == []

    weir.restart()
    produce(weir.addr, 1000, 500)
    wait_committed(weir.addr, "copier", 1500)
    # Each input was copied once: nothing processed again after the restart.
    assert sorted(copies(weir.addr)) == sorted(value_of(i) for i in range(1500))
