"""Kafka transactions with confluent-kafka (librdkafka): commits are seen by
read_committed consumers, aborts are not, a consume-transform-produce loop
commits its input offsets with its output, and a second producer with the same
transactional.id fences the first."""

from __future__ import annotations

import time

import pytest

from helpers import create_topic


def producer(addr: str, txn_id: str):
    from confluent_kafka import Producer

    p = Producer(
        {"bootstrap.servers": addr, "transactional.id": txn_id, "transaction.timeout.ms": 60000}
    )
    p.init_transactions(30)
    return p


def read(addr: str, topic: str, isolation: str, expect: int, partitions: int = 1):
    """Reads `topic` from the start to its end as `isolation` sees it (the last
    stable offset for read_committed, markers and aborted records skipped), and
    checks that `expect` records came."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": addr,
            "group.id": f"reader-{isolation}-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
        }
    )
    tps = [TopicPartition(topic, p, 0) for p in range(partitions)]
    c.assign(tps)
    # The end as this isolation level sees it (ListOffsets answers the last
    # stable offset to a read_committed consumer).
    ends = [c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    values = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                values.append(msg.value().decode())
            positions = [p.offset for p in c.position(tps)]
            if all(p >= e for p, e in zip(positions, ends)):
                assert len(values) == expect, f"{isolation}: {values}"
                return values
        raise AssertionError(f"{isolation}: {len(values)} records, expected {expect}: {values}")
    finally:
        c.close()


def test_committed_transactions_are_read_and_aborted_ones_are_not(weir):
    create_topic(weir.addr, "txn-out", 1)
    p = producer(weir.addr, "app-1")
    p.begin_transaction()
    for i in range(10):
        p.produce("txn-out", value=f"committed-{i}".encode(), partition=0)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(10):
        p.produce("txn-out", value=f"aborted-{i}".encode(), partition=0)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce("txn-out", value=f"second-{i}".encode(), partition=0)
    p.commit_transaction(30)

    committed = [f"committed-{i}" for i in range(10)] + [f"second-{i}" for i in range(5)]
    assert read(weir.addr, "txn-out", "read_committed", 15) == committed
    everything = read(weir.addr, "txn-out", "read_uncommitted", 25)
    assert sorted(everything) == sorted(committed + [f"aborted-{i}" for i in range(10)])


def test_an_open_transaction_holds_read_committed_consumers_back(weir):
    create_topic(weir.addr, "held", 1)
    p = producer(weir.addr, "holder")
    p.begin_transaction()
    p.produce("held", value=b"pending", partition=0)
    p.flush(30)
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": weir.addr, "group.id": "held", "isolation.level": "read_committed"})
    low, high = c.get_watermark_offsets(TopicPartition("held", 0), timeout=10)
    c.close()
    assert (low, high) == (0, 0), "the last stable offset is before the open transaction"
    p.commit_transaction(30)
    assert read(weir.addr, "held", "read_committed", 1) == ["pending"]


def test_consume_transform_produce_commits_offsets_with_its_output(weir):
    from confluent_kafka import Consumer, Producer, TopicPartition

    create_topic(weir.addr, "ctp-in", 1)
    create_topic(weir.addr, "ctp-out", 1)
    plain = Producer({"bootstrap.servers": weir.addr})
    for i in range(30):
        plain.produce("ctp-in", value=f"{i}".encode(), partition=0)
    assert plain.flush(20) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": weir.addr,
            "group.id": "transformer",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition("ctp-in", 0, 0)])
    p = producer(weir.addr, "transformer-1")
    done = 0
    deadline = time.monotonic() + 30
    while done < 30 and time.monotonic() < deadline:
        msgs = consumer.consume(10, 1.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce("ctp-out", value=str(int(m.value()) * 2).encode(), partition=0)
        positions = consumer.position(consumer.assignment())
        p.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        p.commit_transaction(30)
        done += len(msgs)
    consumer.close()
    assert done == 30
    assert read(weir.addr, "ctp-out", "read_committed", 30) == [str(i * 2) for i in range(30)]
    probe = Consumer({"bootstrap.servers": weir.addr, "group.id": "transformer"})
    committed = probe.committed([TopicPartition("ctp-in", 0)], timeout=10)
    probe.close()
    assert committed[0].offset == 30


def test_a_second_producer_fences_the_first(weir):
    from confluent_kafka import KafkaException

    create_topic(weir.addr, "fenced", 1)
    first = producer(weir.addr, "shared-id")
    first.begin_transaction()
    first.produce("fenced", value=b"zombie", partition=0)
    first.flush(30)
    second = producer(weir.addr, "shared-id")  # aborts the first's transaction
    second.begin_transaction()
    second.produce("fenced", value=b"live", partition=0)
    second.commit_transaction(30)
    with pytest.raises(KafkaException) as failed:
        first.commit_transaction(30)
    assert failed.value.args[0].fatal() or "fenced" in str(failed.value).lower(), failed.value
    assert read(weir.addr, "fenced", "read_committed", 1) == ["live"]


def test_aiokafka_transactions_commit_and_abort(weir):
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    create_topic(weir.addr, "aio-txn", 1)

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=weir.addr, transactional_id="aio-app")
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(5):
                    await producer.send_and_wait("aio-txn", f"kept-{i}".encode(), partition=0)
            await producer.begin_transaction()
            for i in range(5):
                await producer.send_and_wait("aio-txn", f"dropped-{i}".encode(), partition=0)
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait("aio-txn", b"last", partition=0)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            bootstrap_servers=weir.addr, isolation_level="read_committed", enable_auto_commit=False
        )
        await consumer.start()
        try:
            tp = TopicPartition("aio-txn", 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            values = []
            deadline = asyncio.get_running_loop().time() + 20
            while len(values) < 6 and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=500)
                values += [r.value.decode() for r in batch.get(tp, [])]
            return values
        finally:
            await consumer.stop()

    values = asyncio.run(run())
    assert values == [f"kept-{i}" for i in range(5)] + ["last"]
    # confluent-kafka's read_committed consumer agrees.
    assert read(weir.addr, "aio-txn", "read_committed", 6) == values
