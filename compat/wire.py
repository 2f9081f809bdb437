"""The Kafka wire protocol by hand, for the few tests that need bytes no client
library would send: framing, request header v1, and ApiVersions v0."""

from __future__ import annotations

import socket
import struct
import time

API_KEYS = {
    "Produce": 0,
    "Fetch": 1,
    "ListOffsets": 2,
    "Metadata": 3,
    "OffsetCommit": 8,
    "OffsetFetch": 9,
    "FindCoordinator": 10,
    "JoinGroup": 11,
    "Heartbeat": 12,
    "LeaveGroup": 13,
    "SyncGroup": 14,
    "DescribeGroups": 15,
    "ListGroups": 16,
    "ApiVersions": 18,
    "CreateTopics": 19,
    "DeleteTopics": 20,
    "AlterConfigs": 33,
    "IncrementalAlterConfigs": 44,
    "DeleteRecords": 21,
    "InitProducerId": 22,
    "DeleteGroups": 42,
    "OffsetDelete": 47,
    "DescribeCluster": 60,
}

UNSUPPORTED_VERSION = 35


def connect(addr: str, timeout: float = 5.0) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def request_header_v1(api_key: int, version: int, correlation_id: int, client_id: str = "compat") -> bytes:
    """Request header v1: api key, version, correlation id, client id (int16 length)."""
    cid = client_id.encode()
    return struct.pack(">hhih", api_key, version, correlation_id, len(cid)) + cid


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """n bytes, or None if the peer closed the connection first."""
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:  # reset, or the socket closed under us
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes | None:
    """One response frame without its size prefix; None if the connection closed."""
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    assert 0 <= size < 64 * 1024 * 1024, f"implausible response size {size}"
    return recv_exact(sock, size)


def wait_closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True once the broker closes the connection (EOF or reset) within `timeout`,
    False if it stays open (data that arrives meanwhile is drained and ignored)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
    return False


def api_versions_request(version: int, correlation_id: int) -> bytes:
    """An ApiVersions request at `version`. v0-v2 have an empty body after a v1
    header; v3+ use header v2 and a flexible body (client software name/version)."""
    if version < 3:
        return frame(request_header_v1(18, version, correlation_id))
    header = request_header_v1(18, version, correlation_id) + b"\x00"  # no tagged fields
    name, ver = b"weir-compat", b"1.0"
    body = bytes([len(name) + 1]) + name + bytes([len(ver) + 1]) + ver + b"\x00"
    return frame(header + body)


def parse_api_versions_v0(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(correlation id, error code, {api key: (min, max)}) of a v0 response, which
    must be exactly that long: v0 has no throttle time and no tagged fields."""
    correlation_id, error, count = struct.unpack_from(">ihi", payload, 0)
    assert 0 <= count < 1000, f"implausible ApiKeys count {count}"
    expected = 4 + 2 + 4 + 6 * count
    assert len(payload) == expected, (
        f"a v0 ApiVersions response with {count} keys is {expected} bytes, got {len(payload)}"
    )
    keys = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", payload, 10 + 6 * i)
        keys[key] = (lo, hi)
    return correlation_id, error, keys


def api_versions(addr: str) -> dict[int, tuple[int, int]]:
    """The broker's advertised API table, asked for with ApiVersions v0."""
    with connect(addr) as sock:
        sock.sendall(api_versions_request(0, 7))
        payload = recv_frame(sock)
        assert payload is not None, "the broker closed the connection on ApiVersions v0"
        correlation_id, error, keys = parse_api_versions_v0(payload)
        assert correlation_id == 7 and error == 0, (correlation_id, error)
        return keys


def missing_apis(addr: str, names) -> list[str]:
    """The names among `names` the broker does not advertise."""
    table = api_versions(addr)
    return [n for n in names if API_KEYS[n] not in table]
