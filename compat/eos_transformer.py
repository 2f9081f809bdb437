"""A consume-transform-produce application with confluent-kafka's transactional
API, run as its own process by test_transactions_crash.py: it reads `eos-in`
from the group's committed offset, writes "out-<value>" to `eos-out` and
commits its input offsets in the same transaction. It prints `progress <done>`
after each commit, and exits 0 once every input is committed, 3 on a Kafka
error (the test starts it again, as a supervisor restarts a crashed app).

Usage: eos_transformer.py BOOTSTRAP INPUTS"""

from __future__ import annotations

import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def main(addr: str, inputs: int) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": addr,
            "group.id": "exactly-once",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        committed = consumer.committed([TopicPartition("eos-in", 0)], timeout=10)[0].offset
        start = max(committed, 0)
        consumer.assign([TopicPartition("eos-in", 0, start)])
        producer = Producer(
            {
                "bootstrap.servers": addr,
                "transactional.id": "eos-loop",
                "transaction.timeout.ms": 10000,
                "message.timeout.ms": 10000,
            }
        )
        # Fences any earlier incarnation and aborts what it left open.
        producer.init_transactions(10)
        done = start
        while done < inputs:
            msgs = [m for m in consumer.consume(20, 0.5) if not m.error()]
            if not msgs:
                continue
            producer.begin_transaction()
            for m in msgs:
                producer.produce("eos-out", value=f"out-{int(m.value())}".encode(), partition=0)
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 10)
            producer.commit_transaction(10)
            done = positions[0].offset
            print(f"progress {done}", flush=True)
        return 0
    except KafkaException as e:
        print(f"error {e}", flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
