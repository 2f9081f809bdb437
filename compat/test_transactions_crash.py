"""Exactly-once through broker crashes: a consume-transform-produce application
(compat/eos_transformer.py, confluent-kafka's transactional API) runs while the
broker is killed with SIGKILL and restarted 20 times. As a supervisor would, the
test starts the application again whenever it exits on an error or makes no
progress for 20 s (then it is killed too): each incarnation goes on from the
group's committed offset with a new producer of the same transactional.id, which
fences the last one and aborts what it left open. At the end, the output topic
read read_committed must hold every input exactly once, in order.

The check is independent of the application: input i has value i, and its
output must be "out-i"."""

from __future__ import annotations

import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import create_topic

pytestmark = pytest.mark.timeout(480)

INPUTS = 3_000
KILLS = 20
STALL = 20.0
APP = Path(__file__).resolve().parent / "eos_transformer.py"


def start_app(addr: str, lines: queue.Queue) -> subprocess.Popen:
    app = subprocess.Popen(
        [sys.executable, str(APP), addr, str(INPUTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def pump():
        for line in app.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return app


def committed_offset(addr: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({"bootstrap.servers": addr, "group.id": "exactly-once"})
    try:
        return probe.committed([TopicPartition("eos-in", 0)], timeout=10)[0].offset
    finally:
        probe.close()


def test_consume_transform_produce_is_exactly_once_across_sigkills(weir_factory):
    from confluent_kafka import Consumer, Producer, TopicPartition

    weir = weir_factory()
    create_topic(weir.addr, "eos-in", 1)
    create_topic(weir.addr, "eos-out", 1)
    plain = Producer({"bootstrap.servers": weir.addr})
    for i in range(INPUTS):
        plain.produce("eos-in", value=str(i).encode(), partition=0)
    assert plain.flush(30) == 0

    rng = random.Random(time.time_ns())
    kills = incarnations = 0
    lines: queue.Queue = queue.Queue()
    app = start_app(weir.addr, lines)
    incarnations += 1
    progress, last_progress = 0, time.monotonic()
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                line = None
            if line and line.startswith("progress "):
                progress, last_progress = int(line.split()[1]), time.monotonic()
                # A kill each time another share of the input is done, 0-300 ms
                # later: inside whatever the application does by then.
                if kills < KILLS and progress >= (kills + 1) * INPUTS // (KILLS + 1):
                    time.sleep(rng.uniform(0, 0.3))
                    weir.restart(crash=True)
                    kills += 1
            finished = app.poll()
            if finished == 0 and kills == KILLS:
                break
            stalled = time.monotonic() - last_progress > STALL
            if finished is not None or stalled:
                if finished is None:
                    app.kill()
                app.wait()
                app = start_app(weir.addr, lines)
                incarnations += 1
                last_progress = time.monotonic()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert kills == KILLS, f"{kills} kills, progress {progress}"
    assert committed_offset(weir.addr) == INPUTS, "every input's offset is committed"

    reader = Consumer(
        {
            "bootstrap.servers": weir.addr,
            "group.id": "checker",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    tp = TopicPartition("eos-out", 0, 0)
    reader.assign([tp])
    # Read to the end a read_committed consumer sees (the last stable offset).
    stable_end = reader.get_watermark_offsets(tp, timeout=10)[1]
    outputs: list[str] = []
    end = time.monotonic() + 60
    while reader.position([tp])[0].offset < stable_end and time.monotonic() < end:
        outputs += [m.value().decode() for m in reader.consume(500, 0.5) if not m.error()]
    reader.close()
    expected = [f"out-{i}" for i in range(INPUTS)]
    duplicates = len(outputs) - len(set(outputs))
    assert duplicates == 0, f"{duplicates} duplicated outputs ({incarnations} incarnations)"
    assert outputs == expected, "every input's output, once, in order"
    print(f"{kills} SIGKILLs, {incarnations} application incarnations")
