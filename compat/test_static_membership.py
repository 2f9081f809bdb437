"""Static group membership (group.instance.id, KIP-345) with confluent-kafka: a
member that restarts under the same instance id gets its partitions back at
once, with no rebalance: the other member is never revoked and keeps the
same generation; a second live member with the same instance id fences the
first, which librdkafka reports as a fatal error."""

from __future__ import annotations

import time

import pytest

from helpers import create_topic

pytestmark = [pytest.mark.groups, pytest.mark.timeout(120)]


class Static:
    """A confluent-kafka consumer with a group.instance.id, and its rebalance
    callbacks' record."""

    def __init__(self, addr: str, group: str, instance: str, topic: str):
        from confluent_kafka import Consumer

        self.events: list[tuple[str, set[int]]] = []
        self.errors: list = []
        self.consumer = Consumer({
            "bootstrap.servers": addr,
            "group.id": group,
            "group.instance.id": instance,
            # Long enough that a restart is well inside it.
            "session.timeout.ms": 45000,
            "heartbeat.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "error_cb": self.errors.append,
        })
        self.consumer.subscribe(
            [topic],
            on_assign=lambda _c, parts: self.events.append(("assign", {p.partition for p in parts})),
            on_revoke=lambda _c, parts: self.events.append(("revoke", {p.partition for p in parts})),
        )

    def assigned(self) -> set[int] | None:
        current = None
        for kind, parts in self.events:
            current = parts if kind == "assign" else set()
        return current

    def poll_until(self, done, seconds: float, what: str, *others: "Static") -> None:
        """Polls this member and `others` until `done()`, for at most `seconds`."""
        end = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < end, f"timed out waiting for {what}: {self.events} {self.errors}"
            for member in (self, *others):
                message = member.consumer.poll(0.05)
                # Fatal errors (a fenced member) come back from poll.
                if message is not None and message.error() is not None:
                    member.errors.append(message.error())


def test_a_restarted_static_member_gets_its_partitions_back_without_a_rebalance(weir):
    create_topic(weir.addr, "static", 4)
    a = Static(weir.addr, "statics", "pod-a", "static")
    b = Static(weir.addr, "statics", "pod-b", "static")
    a.poll_until(
        lambda: (a.assigned() or set()) | (b.assigned() or set()) == {0, 1, 2, 3}
        and a.assigned() and b.assigned(),
        60,
        "both members assigned",
        b,
    )
    a_parts, b_events = a.assigned(), len(b.events)
    # Closing a static member sends no LeaveGroup: the group keeps its place.
    a.consumer.close()
    again = Static(weir.addr, "statics", "pod-a", "static")
    again.poll_until(lambda: again.assigned() is not None, 30, "the restarted member assigned", b)
    assert again.assigned() == a_parts
    # Give a rebalance, if one were under way, time to reach b.
    end = time.monotonic() + 3
    while time.monotonic() < end:
        b.consumer.poll(0.1)
        again.consumer.poll(0.1)
    assert len(b.events) == b_events, f"b was not rebalanced: {b.events[b_events:]}"

    # A second live member with pod-a's instance id fences the one running.
    twin = Static(weir.addr, "statics", "pod-a", "static")
    twin.poll_until(
        lambda: any("FENCED" in e.str().upper() or e.fatal() for e in again.errors),
        30,
        "the older pod-a fenced",
        again,
        b,
    )
    for member in (twin, b, again):
        try:
            member.consumer.close()
        except Exception:  # the fenced one may refuse: it is closed all the same
            pass
