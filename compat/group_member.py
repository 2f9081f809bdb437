"""One consumer-group member, run as its own process by test_consumer_groups.py so
a test can SIGKILL it. Usage: group_member.py ADDR GROUP TOPIC OUTFILE

Writes to OUTFILE, line by line: `assign P,P,...` and `revoke ...` on each
rebalance, `rec PARTITION OFFSET VALUE` for each record, and commits synchronously
after each batch it has written. SIGTERM closes it cleanly (leaving the group); it
exits on its own after LIFETIME seconds."""

import signal
import sys
import time

from confluent_kafka import Consumer

LIFETIME = 150.0


def main() -> int:
    addr, group, topic, outfile = sys.argv[1:5]
    out = open(outfile, "a", buffering=1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    def on_assign(_consumer, partitions):
        out.write("assign " + ",".join(str(p.partition) for p in partitions) + "\n")

    def on_revoke(_consumer, partitions):
        out.write("revoke " + ",".join(str(p.partition) for p in partitions) + "\n")

    consumer = Consumer({
        "bootstrap.servers": addr,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "partition.assignment.strategy": "range",
    })
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    end = time.monotonic() + LIFETIME
    while not stop and time.monotonic() < end:
        msgs = consumer.consume(500, timeout=0.2)
        wrote = False
        for m in msgs:
            if m.error() is not None:
                out.write(f"error {m.error()}\n")
                continue
            out.write(f"rec {m.partition()} {m.offset()} {m.value().decode()}\n")
            wrote = True
        if wrote:
            out.flush()
            try:
                consumer.commit(asynchronous=False)
            except Exception as e:  # a rebalance in between: the next batch commits
                out.write(f"commit-failed {e}\n")
    consumer.close()
    out.write("closed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
