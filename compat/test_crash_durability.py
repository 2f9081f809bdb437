"""With --durability sync, a record the broker acknowledged (acks=all) survives a
SIGKILL: produce continuously, kill weir mid-stream, restart it on the same data
directory and port, let the producer carry on, then read everything back."""

from __future__ import annotations

import threading

import pytest

from helpers import Deadline, create_topic, high_watermarks

TOPIC = "durable"
PARTITIONS = 3
KILL_AFTER_ACKS = 20_000
TOTAL = 60_000

pytestmark = pytest.mark.timeout(150)


class AckingProducer(threading.Thread):
    """Produces `total` keyed records and records each acknowledged
    (partition, offset, value) from the delivery reports."""

    def __init__(self, addr: str, total: int):
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer({
            "bootstrap.servers": addr,
            "acks": "all",
            "linger.ms": 2,
            "enable.idempotence": False,
            "message.timeout.ms": 30_000,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
        })
        self.total = total
        self.acked: list[tuple[int, int, bytes]] = []
        self.failed = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def on_delivery(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))
            else:
                self.failed += 1

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def run(self):
        try:
            for i in range(self.total):
                value = b"durable-%06d" % i
                for _ in range(2000):
                    try:
                        self.producer.produce(TOPIC, key=b"k%d" % i, value=value,
                                              on_delivery=self.on_delivery)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                else:
                    raise RuntimeError("the producer queue stayed full")
                self.producer.poll(0)
            self.producer.flush(60)
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.done.set()


def test_sigkill_loses_no_acknowledged_record(weir_factory):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    weir = weir_factory("--durability", "sync")
    create_topic(weir.addr, TOPIC, PARTITIONS)
    producer = AckingProducer(weir.addr, TOTAL)
    producer.start()

    deadline = Deadline(30)
    while producer.acked_count() < KILL_AFTER_ACKS and deadline and not producer.done.is_set():
        producer.done.wait(0.01)
    assert not producer.done.is_set(), "production ended before the kill: raise TOTAL"
    acked_before_kill = producer.acked_count()
    assert acked_before_kill >= KILL_AFTER_ACKS, f"only {acked_before_kill} acks in 30 s"

    weir.kill()
    weir.restart(crash=True)  # already dead: starts on the same data dir and port

    assert producer.done.wait(60), "the producer did not finish after the restart"
    producer.join(5)
    assert producer.error is None, producer.error
    acked = list(producer.acked)
    assert len(acked) > acked_before_kill, "nothing was acknowledged after the restart"

    hw = high_watermarks(weir.addr, TOPIC, PARTITIONS)
    consumer = Consumer({"bootstrap.servers": weir.addr, "group.id": "compat-durable",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    stored: dict[tuple[int, int], bytes] = {}
    deadline = Deadline(30)
    try:
        while len(stored) < sum(hw.values()) and deadline:
            for m in consumer.consume(10_000, timeout=1.0):
                assert m.error() is None, m.error()
                stored[(m.partition(), m.offset())] = m.value()
    finally:
        consumer.close()

    for p in range(PARTITIONS):
        offsets = sorted(o for (q, o) in stored if q == p)
        assert offsets == list(range(hw[p])), f"partition {p}: offsets not dense up to {hw[p]}"
    # Shown when the test fails.
    print(f"acked {acked_before_kill} before the kill, {len(acked)} in all; "
          f"{producer.failed} delivery failures; {len(stored)} records stored")
    lost = [(p, o, v) for p, o, v in acked if stored.get((p, o)) != v]
    assert not lost, (
        f"{len(lost)} of {len(acked)} acknowledged records missing or changed after SIGKILL "
        f"({acked_before_kill} acked before the kill), first: "
        + ", ".join(f"{p}@{o}={v!r} now {stored.get((p, o))!r}" for p, o, v in lost[:5])
    )
