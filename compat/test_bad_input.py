"""Bytes no client library would send, over a raw socket: the broker answers what
Kafka answers (a v0 ApiVersions error for an unsupported ApiVersions version) or
closes that one connection, and keeps serving everyone else."""

from __future__ import annotations

import socket
import struct

import pytest

import wire

UNSUPPORTED_VERSION = 35


def assert_still_serving(weir) -> None:
    """The process is up, a raw ApiVersions works, and a real client can produce
    and read metadata."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    assert weir.running(), "weir exited:\n" + weir.log_tail()
    table = wire.api_versions(weir.addr)
    assert wire.API_KEYS["Metadata"] in table
    producer = Producer({"bootstrap.servers": weir.addr})
    producer.produce("after-bad-input", value=b"still here")
    assert producer.flush(20) == 0
    md = AdminClient({"bootstrap.servers": weir.addr}).list_topics(timeout=10)
    assert "after-bad-input" in md.topics


def send_and_expect_close(weir, payload: bytes) -> None:
    with wire.connect(weir.addr) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed already
        assert wire.wait_closed(sock), "the broker kept the connection open"


@pytest.mark.parametrize(
    "size",
    [0x7FFFFFFF, 100 * 1024 * 1024 + 1, -1, -0x80000000],
    ids=["i32-max", "just-over-100MiB", "minus-1", "i32-min"],
)
def test_bad_frame_size(weir, size):
    send_and_expect_close(weir, struct.pack(">i", size) + b"\x00" * 16)
    assert_still_serving(weir)


def test_garbage_frame(weir):
    send_and_expect_close(weir, wire.frame(b"\xde\xad\xbe\xef" * 16))
    assert_still_serving(weir)


def test_frame_too_short_for_a_header(weir):
    send_and_expect_close(weir, wire.frame(b"\x00\x03\x00"))
    assert_still_serving(weir)


def test_malformed_body(weir):
    # A Metadata v1 request whose topics array claims 2^31-1 entries and has none:
    # the decoder must fail on the missing bytes, not reserve room for the count.
    header = wire.request_header_v1(wire.API_KEYS["Metadata"], 1, 1)
    send_and_expect_close(weir, wire.frame(header + struct.pack(">i", 0x7FFFFFFF)))
    # A CreateTopics v2 request cut off in the middle of a topic name.
    header = wire.request_header_v1(wire.API_KEYS["CreateTopics"], 2, 2)
    send_and_expect_close(weir, wire.frame(header + struct.pack(">ih", 1, 200) + b"abc"))
    assert_still_serving(weir)


def test_torn_frame_then_hang_up(weir):
    with wire.connect(weir.addr) as sock:
        sock.sendall(struct.pack(">i", 100) + b"\x00\x12\x00\x00")
    assert_still_serving(weir)


@pytest.mark.parametrize("api_key", [9999, -1, 0x7FFF])
def test_unknown_api_key(weir, api_key):
    send_and_expect_close(weir, wire.frame(wire.request_header_v1(api_key, 0, 5)))
    assert_still_serving(weir)


def test_unsupported_version_of_served_api(weir):
    send_and_expect_close(
        weir, wire.frame(wire.request_header_v1(wire.API_KEYS["Metadata"], 99, 6))
    )
    assert_still_serving(weir)


@pytest.mark.parametrize("version", [4, 99, 0x7FFF])
def test_unsupported_api_versions_version_gets_v0_error_35(weir, version):
    with wire.connect(weir.addr) as sock:
        sock.sendall(wire.api_versions_request(version, 4242))
        payload = wire.recv_frame(sock)
        assert payload is not None, "the broker closed the connection instead of answering"
        correlation_id, error, keys = wire.parse_api_versions_v0(payload)
        assert correlation_id == 4242
        assert error == UNSUPPORTED_VERSION
        assert keys[wire.API_KEYS["ApiVersions"]][0] == 0
        assert keys[wire.API_KEYS["ApiVersions"]][1] >= 3
        for name in ("Produce", "Fetch", "ListOffsets", "Metadata", "CreateTopics", "DeleteTopics"):
            assert wire.API_KEYS[name] in keys, name
        # The client retries lower on the same connection, as Kafka allows.
        sock.sendall(wire.api_versions_request(0, 4243))
        payload = wire.recv_frame(sock)
        assert payload is not None
        correlation_id, error, again = wire.parse_api_versions_v0(payload)
        assert (correlation_id, error, again) == (4243, 0, keys)
    assert_still_serving(weir)


def test_api_versions_v3_has_a_v0_header_and_no_optional_tagged_fields(weir):
    """librdkafka 2.0 (Debian's kcat) cannot parse the optional v3 tagged fields."""
    with wire.connect(weir.addr) as sock:
        sock.sendall(wire.api_versions_request(3, 77))
        payload = wire.recv_frame(sock)
    assert payload is not None
    correlation_id, error = struct.unpack_from(">ih", payload, 0)
    assert (correlation_id, error) == (77, 0)  # no tagged-field byte after the id
    count = payload[6] - 1  # compact array length (one byte while under 127 keys)
    assert 0 < count < 127
    at = 7
    for _ in range(count):
        assert payload[at + 6] == 0, "a per-key tagged field"
        at += 7
    (throttle,) = struct.unpack_from(">i", payload, at)
    assert throttle == 0
    assert payload[at + 4 :] == b"\x00", "top-level tagged fields present"


def test_many_abrupt_connections(weir):
    for i in range(200):
        sock = socket.create_connection(("127.0.0.1", weir.port), timeout=5)
        if i % 2:
            sock.sendall(struct.pack(">i", 30) + b"\x00\x03")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
    assert_still_serving(weir)
