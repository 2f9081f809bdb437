"""Creating and deleting topics with each client's admin API (kcat cannot create).
The broker runs with auto-creation off, so a deleted topic stays deleted even when
a client asks for its metadata."""

from __future__ import annotations

import asyncio

import pytest

from helpers import high_watermarks, user_topics

# Kafka error codes.
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40


@pytest.fixture
def weir(weir_factory):
    return weir_factory("--auto-create-topics", "false", "--default-partitions", "2")


def test_confluent_kafka_admin(weir):
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": weir.addr})

    def create(*topics):
        futures = admin.create_topics(list(topics), operation_timeout=10, request_timeout=15)
        return {name: f for name, f in futures.items()}

    def error_code(future):
        with pytest.raises(KafkaException) as e:
            future.result(timeout=20)
        return e.value.args[0].code()

    fs = create(
        NewTopic("made-by-confluent", num_partitions=5, replication_factor=1,
                 config={"retention.ms": "3600000"}),
        NewTopic("second", num_partitions=1, replication_factor=1),
    )
    for f in fs.values():
        assert f.result(timeout=20) is None
    md = admin.list_topics(timeout=10)
    assert {n: len(t.partitions) for n, t in md.topics.items() if n in user_topics([n])} == {
        "made-by-confluent": 5, "second": 1
    }

    fs = create(NewTopic("made-by-confluent", num_partitions=2, replication_factor=1))
    assert error_code(fs["made-by-confluent"]) == TOPIC_ALREADY_EXISTS
    fs = create(NewTopic("three-replicas", num_partitions=1, replication_factor=3))
    assert error_code(fs["three-replicas"]) == INVALID_REPLICATION_FACTOR
    fs = create(NewTopic("bad/name", num_partitions=1, replication_factor=1))
    assert error_code(fs["bad/name"]) == INVALID_TOPIC
    fs = create(NewTopic("bad-config", num_partitions=1, replication_factor=1,
                         config={"retention.ms": "not a number"}))
    assert error_code(fs["bad-config"]) == INVALID_CONFIG
    fs = create(NewTopic("unknown-config", num_partitions=1, replication_factor=1,
                         config={"no.such.config": "1"}))
    assert error_code(fs["unknown-config"]) == INVALID_CONFIG
    fs = admin.create_topics([NewTopic("only-validated", num_partitions=3, replication_factor=1)],
                             validate_only=True, request_timeout=15)
    assert fs["only-validated"].result(timeout=20) is None
    assert user_topics(admin.list_topics(timeout=10).topics) == {"made-by-confluent", "second"}

    # Records in a topic go with it: a topic re-created under the same name is empty.
    producer = Producer({"bootstrap.servers": weir.addr})
    for i in range(10):
        producer.produce("second", value=b"%d" % i)
    assert producer.flush(30) == 0
    assert high_watermarks(weir.addr, "second", 1) == {0: 10}

    fs = admin.delete_topics(["second"], operation_timeout=10, request_timeout=15)
    assert fs["second"].result(timeout=20) is None
    assert user_topics(admin.list_topics(timeout=10).topics) == {"made-by-confluent"}
    fs = admin.delete_topics(["second"], operation_timeout=10, request_timeout=15)
    assert error_code(fs["second"]) == UNKNOWN_TOPIC_OR_PARTITION

    fs = create(NewTopic("second", num_partitions=2, replication_factor=1))
    assert fs["second"].result(timeout=20) is None
    assert high_watermarks(weir.addr, "second", 2) == {0: 0, 1: 0}


def test_kafka_python_admin(weir):
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        admin.create_topics([
            NewTopic("made-by-kafka-python", num_partitions=4, replication_factor=1,
                     topic_configs={"retention.ms": "3600000"}),
            NewTopic("doomed", num_partitions=2, replication_factor=1),
        ])
        assert user_topics(admin.list_topics()) == {"made-by-kafka-python", "doomed"}
        described = {t["name"]: t for t in admin.describe_topics(["made-by-kafka-python"])}
        assert len(described["made-by-kafka-python"]["partitions"]) == 4

        # A bare name: partitions and replication factor -1, the broker's defaults.
        admin.create_topics(["defaulted"])
        described = {t["name"]: t for t in admin.describe_topics(["defaulted"])}
        assert len(described["defaulted"]["partitions"]) == 2
        admin.delete_topics(["defaulted"])

        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("doomed", num_partitions=1, replication_factor=1)])

        admin.delete_topics(["doomed"])
        assert user_topics(admin.list_topics()) == {"made-by-kafka-python"}
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics(["doomed"])
    finally:
        admin.close()


def test_aiokafka_admin(weir):
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def check():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            resp = await admin.create_topics([
                NewTopic("made-by-aiokafka", num_partitions=3, replication_factor=1,
                         topic_configs={"retention.ms": "3600000"}),
                NewTopic("doomed", num_partitions=1, replication_factor=1),
            ])
            assert [(t[0], t[1]) for t in resp.topic_errors] == [
                ("made-by-aiokafka", 0), ("doomed", 0)
            ]
            assert user_topics(await admin.list_topics()) == {"made-by-aiokafka", "doomed"}
            described = {t["topic"]: t for t in await admin.describe_topics(["made-by-aiokafka"])}
            assert len(described["made-by-aiokafka"]["partitions"]) == 3

            resp = await admin.create_topics(
                [NewTopic("doomed", num_partitions=1, replication_factor=1)]
            )
            assert [(t[0], t[1]) for t in resp.topic_errors] == [("doomed", TOPIC_ALREADY_EXISTS)]

            resp = await admin.delete_topics(["doomed"])
            assert [tuple(t[:2]) for t in resp.topic_error_codes] == [("doomed", 0)]
            assert user_topics(await admin.list_topics()) == {"made-by-aiokafka"}
            resp = await admin.delete_topics(["doomed"])
            assert [tuple(t[:2]) for t in resp.topic_error_codes] == [
                ("doomed", UNKNOWN_TOPIC_OR_PARTITION)
            ]
        finally:
            await admin.close()

    asyncio.run(asyncio.wait_for(check(), 60))
