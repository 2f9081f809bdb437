"""Idempotent producers: each client with idempotence on writes every record
exactly once; and when Produce responses are lost (a proxy swallows them after the
broker appended the batch, then cuts the connection) the retried batches are not
written twice.

The control test shows the fault injection bites: a plain producer behind the same
proxy does write duplicates."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from faultproxy import FaultProxy
from helpers import check_keyed, create_topic, key_of, read_all, require_apis, value_of

PARTITIONS = 2
DROPS = (3, 6, 9)  # Produce responses to lose (1-based, across connections)
N_FAULTS = 5_000
N_PLAIN = 10_000


def produce_confluent(addr: str, topic: str, n: int, **config) -> list:
    """Produces n keyed records, flushing every 250 so there are many requests;
    returns the delivery errors."""
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": addr,
        "partitioner": "murmur2_random",
        "acks": "all",
        "linger.ms": 5,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "message.timeout.ms": 30_000,
        **config,
    })
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(n):
        producer.produce(topic, key=key_of(i), value=value_of(i), on_delivery=on_delivery)
        if i % 250 == 249:
            assert producer.flush(30) == 0, "undelivered records after 30 s"
    assert producer.flush(30) == 0, "undelivered records after 30 s"
    return errors


def test_lost_produce_responses_make_a_plain_producer_duplicate(weir):
    """Control: without idempotence, retries after lost responses duplicate."""
    create_topic(weir.addr, "plain", PARTITIONS)
    proxy = FaultProxy(weir.addr, drop_produce=DROPS)
    try:
        errors = produce_confluent(proxy.addr, "plain", N_FAULTS, **{"enable.idempotence": False})
    finally:
        proxy.close()
    assert proxy.dropped == len(DROPS)
    assert not errors, errors[:3]
    values = Counter(v for _, _, _, v in read_all(weir.addr, "plain", PARTITIONS))
    assert set(values) == {value_of(i) for i in range(N_FAULTS)}, "records lost"
    assert sum(values.values()) > N_FAULTS, "the lost responses caused no retry"


@pytest.mark.idempotence
def test_confluent_kafka_idempotent_producer_retries_write_no_duplicates(weir):
    require_apis(weir.addr, "InitProducerId")
    create_topic(weir.addr, "exactly-once", PARTITIONS)
    proxy = FaultProxy(weir.addr, drop_produce=DROPS)
    try:
        errors = produce_confluent(
            proxy.addr, "exactly-once", N_FAULTS, **{"enable.idempotence": True}
        )
    finally:
        proxy.close()
    assert proxy.dropped == len(DROPS), "the proxy did not lose the responses it should have"
    assert not errors, errors[:3]
    check_keyed(read_all(weir.addr, "exactly-once", PARTITIONS), N_FAULTS, PARTITIONS)


@pytest.mark.idempotence
def test_confluent_kafka_idempotent_producer(weir):
    require_apis(weir.addr, "InitProducerId")
    create_topic(weir.addr, "idem", PARTITIONS)
    errors = produce_confluent(weir.addr, "idem", N_PLAIN, **{"enable.idempotence": True})
    assert not errors, errors[:3]
    check_keyed(read_all(weir.addr, "idem", PARTITIONS), N_PLAIN, PARTITIONS)


@pytest.mark.idempotence
def test_kafka_python_default_producer_is_idempotent(weir):
    """kafka-python 3 turns idempotence on by default, so its out-of-the-box producer
    needs InitProducerId."""
    from kafka import KafkaProducer

    require_apis(weir.addr, "InitProducerId")
    create_topic(weir.addr, "idem", PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=weir.addr, linger_ms=5)
    try:
        futures = [producer.send("idem", key=key_of(i), value=value_of(i)) for i in range(N_PLAIN)]
        producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=1)  # raises the delivery error, if any
        assert producer.config["enable_idempotence"], "kafka-python dropped idempotence"
    finally:
        producer.close(timeout=10)
    check_keyed(read_all(weir.addr, "idem", PARTITIONS), N_PLAIN, PARTITIONS)


@pytest.mark.idempotence
def test_aiokafka_idempotent_producer(weir):
    from aiokafka import AIOKafkaProducer

    require_apis(weir.addr, "InitProducerId")
    create_topic(weir.addr, "idem", PARTITIONS)

    async def produce():
        producer = AIOKafkaProducer(bootstrap_servers=weir.addr, enable_idempotence=True,
                                    linger_ms=5)
        await producer.start()
        try:
            pending = [await producer.send("idem", key=key_of(i), value=value_of(i))
                       for i in range(N_PLAIN)]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(produce(), 60))
    check_keyed(read_all(weir.addr, "idem", PARTITIONS), N_PLAIN, PARTITIONS)
