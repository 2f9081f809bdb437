"""Consumer groups with real clients: three members share six partitions and take
over a killed member's partitions without losing a record; committed offsets
survive a broker restart; every client consumes in a group; kcat -G gets records
within seconds; groups are listed and described."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import (
    GROUP_APIS,
    Deadline,
    check_keyed,
    create_topic,
    high_watermarks,
    key_of,
    require_apis,
    value_of,
)

pytestmark = [pytest.mark.groups, pytest.mark.timeout(150)]

MEMBER = Path(__file__).with_name("group_member.py")


def produce(addr: str, topic: str, start: int, count: int, pace: float = 0.0) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": addr, "partitioner": "murmur2_random",
                         "linger.ms": 5, "enable.idempotence": False})
    for i in range(start, start + count):
        producer.produce(topic, key=key_of(i), value=value_of(i))
        if pace and i % 100 == 99:
            producer.poll(0)
            time.sleep(pace)
    assert producer.flush(30) == 0


class Member:
    """A group_member.py process and what it wrote."""

    def __init__(self, addr: str, group: str, topic: str, outfile: Path):
        self.outfile = outfile
        outfile.touch()
        self.proc = subprocess.Popen(
            [sys.executable, str(MEMBER), addr, group, topic, str(outfile)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(outfile.with_suffix(".stderr"), "wb"),
        )

    def lines(self) -> list[str]:
        return self.outfile.read_text().splitlines()

    def assignment(self) -> set[int] | None:
        """The partitions of the last assign (None before the first)."""
        current = None
        for line in self.lines():
            if line.startswith("assign "):
                current = {int(p) for p in line[7:].split(",") if p}
            elif line.startswith("revoke "):
                current = set()
        return current

    def values(self) -> set[bytes]:
        return {line.split(" ")[3].encode() for line in self.lines() if line.startswith("rec ")}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def test_three_members_survive_one_killed(weir, tmp_path):
    require_apis(weir.addr, *GROUP_APIS)
    topic, partitions = "shared", 6
    create_topic(weir.addr, topic, partitions)
    produce(weir.addr, topic, 0, 3000)

    members = [Member(weir.addr, "trio", topic, tmp_path / f"member-{i}.out") for i in range(3)]
    try:
        deadline = Deadline(45)
        while deadline:
            assignments = [m.assignment() for m in members]
            if all(a is not None and len(a) == 2 for a in assignments):
                break
            time.sleep(0.2)
        assert all(a is not None and len(a) == 2 for a in assignments), (
            f"three members did not settle on two partitions each: {assignments}"
        )
        assert set().union(*assignments) == set(range(partitions))

        deadline = Deadline(30)
        while len(set().union(*(m.values() for m in members))) < 3000 and deadline:
            time.sleep(0.2)
        assert len(set().union(*(m.values() for m in members))) == 3000

        # Kill one member mid-stream, without a clean close or a last commit.
        victim, survivors = members[0], members[1:]
        producer = threading.Thread(target=produce, args=(weir.addr, topic, 3000, 6000, 0.02))
        producer.start()
        time.sleep(0.5)
        victim.proc.kill()
        victim.proc.wait()
        producer.join(60)
        assert not producer.is_alive()

        deadline = Deadline(60)
        expected = {value_of(i) for i in range(9000)}
        while deadline:
            got = set().union(*(m.values() for m in members))
            if got >= expected:
                break
            time.sleep(0.2)
        missing = expected - set().union(*(m.values() for m in members))
        assert not missing, (
            f"{len(missing)} records never consumed by the group after the kill; "
            f"survivors' assignments: {[m.assignment() for m in survivors]}"
        )
        final = [m.assignment() for m in survivors]
        assert set().union(*final) == set(range(partitions)), final
        assert sum(len(a) for a in final) == partitions, f"overlapping assignments {final}"
        for m in survivors:
            assert m.stop() == 0
            assert m.lines()[-1] == "closed"
    finally:
        for m in members:
            m.stop()


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_committed_offsets_survive_restart(weir, crash):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KpTopicPartition

    require_apis(weir.addr, *GROUP_APIS)
    topic, partitions, per_partition = "resume", 3, 100
    create_topic(weir.addr, topic, partitions)
    producer = Producer({"bootstrap.servers": weir.addr})
    for p in range(partitions):
        for i in range(per_partition):
            producer.produce(topic, value=b"%d-%d" % (p, i), partition=p)
    assert producer.flush(30) == 0

    config = {"bootstrap.servers": weir.addr, "group.id": "resumers",
              "enable.auto.commit": False, "auto.offset.reset": "earliest",
              "session.timeout.ms": 6000}
    commit = {0: 17, 1: 42, 2: 99}
    first = Consumer(config)
    first.subscribe([topic])
    try:
        seen = 0
        deadline = Deadline(45)
        while seen < 50 and deadline:
            seen += sum(1 for m in first.consume(100, timeout=0.5) if m.error() is None)
        assert seen >= 50, f"the first member consumed {seen} records"
        first.commit(offsets=[TopicPartition(topic, p, o) for p, o in commit.items()],
                     asynchronous=False)
        got = first.committed([TopicPartition(topic, p) for p in commit], timeout=10)
        assert {tp.partition: tp.offset for tp in got} == commit
    finally:
        first.close()

    weir.restart(crash=crash)

    # Another client reads the committed offsets back (OffsetFetch).
    kp = KafkaConsumer(bootstrap_servers=weir.addr, group_id="resumers", enable_auto_commit=False)
    try:
        for p, o in commit.items():
            assert kp.committed(KpTopicPartition(topic, p)) == o, p
    finally:
        kp.close()

    second = Consumer(config)
    second.subscribe([topic])
    firsts: dict[int, int] = {}
    count = 0
    wanted = sum(per_partition - o for o in commit.values())
    deadline = Deadline(45)
    try:
        while count < wanted and deadline:
            for m in second.consume(500, timeout=0.5):
                assert m.error() is None, m.error()
                firsts.setdefault(m.partition(), m.offset())
                count += 1
    finally:
        second.close()
    assert count == wanted, f"resumed consumer read {count} records, expected {wanted}"
    assert firsts == {p: o for p, o in commit.items() if o < per_partition}


N_GROUP = 2000


def test_confluent_kafka_group_consumer(weir):
    from confluent_kafka import Consumer, TopicPartition

    require_apis(weir.addr, *GROUP_APIS)
    create_topic(weir.addr, "g", 4)
    produce(weir.addr, "g", 0, N_GROUP)
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "solo-confluent",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["g"])
    consumed = []
    deadline = Deadline(45)
    try:
        while len(consumed) < N_GROUP and deadline:
            for m in consumer.consume(1000, timeout=0.5):
                assert m.error() is None, m.error()
                consumed.append((m.partition(), m.offset(), m.key(), m.value()))
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition("g", p) for p in range(4)], timeout=10)
    finally:
        consumer.close()
    check_keyed(consumed, N_GROUP, 4)
    assert {tp.partition: tp.offset for tp in committed} == high_watermarks(weir.addr, "g", 4)


def test_kafka_python_group_consumer(weir):
    from kafka import KafkaConsumer, TopicPartition

    require_apis(weir.addr, *GROUP_APIS)
    create_topic(weir.addr, "g", 4)
    produce(weir.addr, "g", 0, N_GROUP)
    consumer = KafkaConsumer("g", bootstrap_servers=weir.addr, group_id="solo-kafka-python",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    consumed = []
    deadline = Deadline(45)
    try:
        while len(consumed) < N_GROUP and deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                consumed.extend((tp.partition, r.offset, r.key, r.value) for r in records)
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition("g", p)) for p in range(4)}
    finally:
        consumer.close()
    check_keyed(consumed, N_GROUP, 4)
    assert committed == high_watermarks(weir.addr, "g", 4)


def test_aiokafka_group_consumer(weir):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    require_apis(weir.addr, *GROUP_APIS)
    create_topic(weir.addr, "g", 4)
    produce(weir.addr, "g", 0, N_GROUP)

    async def consume():
        consumer = AIOKafkaConsumer("g", bootstrap_servers=weir.addr, group_id="solo-aiokafka",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        consumed = []
        try:
            deadline = Deadline(45)
            while len(consumed) < N_GROUP and deadline:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    consumed.extend((tp.partition, r.offset, r.key, r.value) for r in records)
            await consumer.commit()
            committed = {p: await consumer.committed(TopicPartition("g", p)) for p in range(4)}
        finally:
            await consumer.stop()
        return consumed, committed

    consumed, committed = asyncio.run(asyncio.wait_for(consume(), 90))
    check_keyed(consumed, N_GROUP, 4)
    assert committed == high_watermarks(weir.addr, "g", 4)


def test_kcat_group_gets_records_within_seconds(weir):
    """The first member of a new group should be consuming within a few seconds
    (Kafka delays the first rebalance by 3 s); 10 s is a correctness bound that a
    broker holding JoinGroup for half a session timeout (~23 s for kcat) fails."""
    require_apis(weir.addr, *GROUP_APIS)
    create_topic(weir.addr, "kg", 2)
    produce(weir.addr, "kg", 0, 500)
    kcat = subprocess.Popen(
        ["kcat", "-b", weir.addr, "-G", "kcat-group", "-X", "auto.offset.reset=earliest",
         "-u", "-q", "-f", "%p %o %s\\n", "kg"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(kcat.stdout.readline, b"")),
                              daemon=True)
    reader.start()
    try:
        deadline = Deadline(10)
        while len(lines) < 500 and deadline and kcat.poll() is None:
            time.sleep(0.1)
        got = len(lines)
    finally:
        kcat.send_signal(signal.SIGTERM)
        try:
            kcat.wait(15)
        except subprocess.TimeoutExpired:
            kcat.kill()
            kcat.wait()
    assert got == 500, (
        f"kcat -G received {got} of 500 records in 10 s; stderr: "
        + kcat.stderr.read().decode(errors="replace")[-2000:]
    )
    values = {line.split(b" ")[2].strip() for line in lines}
    assert values == {value_of(i) for i in range(500)}


def test_list_and_describe_groups(weir):
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient
    from kafka.admin import KafkaAdminClient

    require_apis(weir.addr, *GROUP_APIS, "ListGroups", "DescribeGroups")
    create_topic(weir.addr, "described", 2)
    produce(weir.addr, "described", 0, 10)
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "visible",
                         "auto.offset.reset": "earliest", "client.id": "visible-member"})
    consumer.subscribe(["described"])
    try:
        got = 0
        deadline = Deadline(30)
        while got < 10 and deadline:
            got += len(consumer.consume(10, timeout=0.5))
        assert got == 10

        admin = AdminClient({"bootstrap.servers": weir.addr})
        listed = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        assert "visible" in {g.group_id for g in listed.valid}, listed.errors
        described = admin.describe_consumer_groups(["visible"], request_timeout=10)
        group = described["visible"].result(timeout=15)
        assert group.state.name == "STABLE"
        assert [m.client_id for m in group.members] == ["visible-member"]
        assigned = {tp.partition for tp in group.members[0].assignment.topic_partitions}
        assert assigned == {0, 1}

        kp = KafkaAdminClient(bootstrap_servers=weir.addr)
        try:
            assert "visible" in {g["group_id"] for g in kp.list_groups()}
            desc = kp.describe_groups(["visible"])["visible"]
            assert desc["error"] is None, desc
            assert desc["group_state"] == "Stable", desc
            assert [m["client_id"] for m in desc["members"]] == ["visible-member"], desc
        finally:
            kp.close()
    finally:
        consumer.close()
