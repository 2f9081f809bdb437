"""Consumer groups and the cluster through each client's admin API: deleting a
group's offsets and the group (DeleteGroups, OffsetDelete), refused while a
member uses them, and describing the cluster (DescribeCluster)."""

from __future__ import annotations

import asyncio

import pytest

from helpers import create_topic, require_apis

# Kafka error codes.
GROUP_ID_NOT_FOUND = 69
NON_EMPTY_GROUP = 68
GROUP_SUBSCRIBED_TO_TOPIC = 86


def commit(addr: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commits offsets for `group` with a confluent-kafka consumer that never joins."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": addr, "group.id": group})
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        for tp in consumer.commit(offsets=tps, asynchronous=False):
            assert tp.error is None, tp
    finally:
        consumer.close()


def test_confluent_kafka_deletes_groups_and_describes_the_cluster(weir):
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient

    require_apis(weir.addr, "DeleteGroups", "DescribeCluster")
    create_topic(weir.addr, "events", 2)
    commit(weir.addr, "idle", {("events", 0): 5, ("events", 1): 9})
    admin = AdminClient({"bootstrap.servers": weir.addr})

    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("idle")])
    offsets = listed["idle"].result(timeout=20).topic_partitions
    assert sorted((tp.partition, tp.offset) for tp in offsets) == [(0, 5), (1, 9)]

    futures = admin.delete_consumer_groups(["idle", "never-was"], request_timeout=15)
    assert futures["idle"].result(timeout=20) is None
    with pytest.raises(KafkaException) as e:
        futures["never-was"].result(timeout=20)
    assert e.value.args[0].code() == GROUP_ID_NOT_FOUND

    groups = admin.list_consumer_groups().result(timeout=20)
    assert "idle" not in {g.group_id for g in groups.valid}

    cluster = admin.describe_cluster(request_timeout=15).result(timeout=20)
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(cluster.controller.id, "127.0.0.1", weir.port)]
    assert cluster.cluster_id


def test_kafka_python_deletes_offsets_unless_a_member_subscribes(weir):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    require_apis(weir.addr, "DeleteGroups", "OffsetDelete", "DescribeCluster")
    create_topic(weir.addr, "orders", 1)
    create_topic(weir.addr, "audit", 1)
    commit(weir.addr, "billing", {("orders", 0): 3, ("audit", 0): 4})
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        # A live member of `billing` subscribing to `orders`.
        member = KafkaConsumer(
            "orders", bootstrap_servers=weir.addr, group_id="billing",
            enable_auto_commit=False, consumer_timeout_ms=200,
        )
        try:
            for _ in range(100):
                member.poll(timeout_ms=100)
                if member.assignment():
                    break
            assert member.assignment() == {TopicPartition("orders", 0)}
            answer = admin.delete_group_offsets(
                "billing", [TopicPartition("orders", 0), TopicPartition("audit", 0)]
            )
            codes = {tp.topic: getattr(err, "errno", err) for tp, err in _pairs(answer)}
            assert codes["audit"] in (0, None), answer
            assert codes["orders"] == GROUP_SUBSCRIBED_TO_TOPIC, answer
            # kafka-python names the error (NON_EMPTY_GROUP, 68).
            deleted = dict(_pairs(admin.delete_groups(["billing"])))
            assert "NonEmptyGroup" in str(deleted["billing"]), deleted
        finally:
            member.close()
        left = admin.list_group_offsets({"billing": None})
        assert "audit" not in str(left) and "orders" in str(left), left
        cluster = admin.describe_cluster()
        assert len(cluster["brokers"]) == 1, cluster
        assert cluster["controller_id"] == cluster["brokers"][0]["broker_id"], cluster
        assert cluster["brokers"][0]["port"] == weir.port, cluster
    finally:
        admin.close()


def _pairs(answer):
    """kafka-python answers with a list of pairs or a dict, by version."""
    return answer.items() if isinstance(answer, dict) else answer


def test_aiokafka_describes_the_cluster(weir):
    from aiokafka.admin import AIOKafkaAdminClient

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            return await admin.describe_cluster()
        finally:
            await admin.close()

    cluster = asyncio.run(run())
    assert len(cluster["brokers"]) == 1, cluster
    assert cluster["cluster_id"], cluster
