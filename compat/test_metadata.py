"""Metadata as each client sees it: one broker (node 0, the bound address, the
controller), every topic with its partitions, node 0 leading each."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess

from helpers import create_topic, user_topics

TOPICS = {"alpha": 3, "beta": 1, "gamma.with-dots_and_underscores": 6}


def setup_topics(addr: str) -> None:
    for name, partitions in TOPICS.items():
        create_topic(addr, name, partitions)


def test_kcat_list(weir):
    setup_topics(weir.addr)
    out = subprocess.run(
        ["kcat", "-b", weir.addr, "-L", "-J"], capture_output=True, timeout=30
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    md = json.loads(out.stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(0, weir.addr)]
    topics = {t["topic"]: t for t in md["topics"] if t["topic"] in user_topics([t["topic"]])}
    assert set(topics) == set(TOPICS)
    for name, partitions in TOPICS.items():
        parts = sorted(topics[name]["partitions"], key=lambda p: p["partition"])
        assert [p["partition"] for p in parts] == list(range(partitions))
        for p in parts:
            assert p["leader"] == 0
            assert [r["id"] for r in p["replicas"]] == [0]
            assert [r["id"] for r in p["isrs"]] == [0]
        assert "error" not in topics[name], topics[name]


def test_kcat_list_plain_text(weir):
    setup_topics(weir.addr)
    out = subprocess.run(["kcat", "-b", weir.addr, "-L"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    text = out.stdout.decode()
    assert f"broker 0 at {weir.addr} (controller)" in text
    listed = re.findall(r'^  topic "([^"]+)" with (\d+) partitions:$', text, re.MULTILINE)
    assert {n: int(p) for n, p in listed if n in user_topics([n])} == TOPICS
    assert 'topic "alpha" with 3 partitions:' in text


def test_confluent_kafka_list_topics(weir):
    from confluent_kafka.admin import AdminClient

    setup_topics(weir.addr)
    md = AdminClient({"bootstrap.servers": weir.addr}).list_topics(timeout=10)
    assert {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()} == {0: weir.addr}
    assert md.controller_id == 0
    assert md.cluster_id
    topics = {n: t for n, t in md.topics.items() if n in user_topics([n])}
    assert {name: len(t.partitions) for name, t in topics.items()} == TOPICS
    for t in md.topics.values():
        assert t.error is None
        for p in t.partitions.values():
            assert (p.leader, p.replicas, p.isrs, p.error) == (0, [0], [0], None)


def test_kafka_python_metadata(weir):
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient

    setup_topics(weir.addr)
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        assert user_topics(admin.list_topics()) == set(TOPICS)
        described = {t["name"]: t for t in admin.describe_topics(list(TOPICS))}
        for name, partitions in TOPICS.items():
            t = described[name]
            assert t["error_code"] == 0
            assert sorted(p["partition_index"] for p in t["partitions"]) == list(range(partitions))
            assert all(p["leader_id"] == 0 for p in t["partitions"])
    finally:
        admin.close()

    consumer = KafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
    try:
        assert user_topics(consumer.topics()) == set(TOPICS)
        for name, partitions in TOPICS.items():
            assert consumer.partitions_for_topic(name) == set(range(partitions))
    finally:
        consumer.close()


def test_aiokafka_metadata(weir):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    setup_topics(weir.addr)

    async def check():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            assert user_topics(await admin.list_topics()) == set(TOPICS)
            cluster = await admin.describe_cluster()
            assert [(b["node_id"], f"{b['host']}:{b['port']}") for b in cluster["brokers"]] == [
                (0, weir.addr)
            ]
            assert cluster["controller_id"] == 0
            described = {t["topic"]: t for t in await admin.describe_topics(list(TOPICS))}
            for name, partitions in TOPICS.items():
                t = described[name]
                assert t["error_code"] == 0
                assert sorted(p["partition"] for p in t["partitions"]) == list(range(partitions))
                assert all(p["leader"] == 0 for p in t["partitions"])
        finally:
            await admin.close()

        consumer = AIOKafkaConsumer(bootstrap_servers=weir.addr, group_id=None)
        await consumer.start()
        try:
            assert user_topics(await consumer.topics()) == set(TOPICS)
        finally:
            await consumer.stop()

        producer = AIOKafkaProducer(bootstrap_servers=weir.addr, enable_idempotence=False)
        await producer.start()
        try:
            for name, partitions in TOPICS.items():
                assert await producer.partitions_for(name) == set(range(partitions))
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(check(), 60))


def test_produce_auto_creates_topic_with_default_partitions(weir_factory):
    from confluent_kafka.admin import AdminClient

    weir = weir_factory("--default-partitions", "3")
    out = subprocess.run(
        ["kcat", "-b", weir.addr, "-P", "-t", "auto-made", "-K:"],
        input=b"a:1\nb:2\n", capture_output=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    md = AdminClient({"bootstrap.servers": weir.addr}).list_topics(timeout=10)
    assert len(md.topics["auto-made"].partitions) == 3


def test_unknown_topic_without_auto_create(weir_factory):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    weir = weir_factory("--auto-create-topics", "false")
    admin = AdminClient({"bootstrap.servers": weir.addr})
    md = admin.list_topics("nobody-made-this", timeout=10)
    topic = md.topics["nobody-made-this"]
    assert topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert "nobody-made-this" not in admin.list_topics(timeout=10).topics
