"""A Kafka-aware TCP proxy on loopback that loses chosen Produce responses.

The proxy forwards frames both ways. It remembers each request's API key and
version by correlation id, so it can (1) rewrite the broker address in Metadata
responses to its own, keeping the client on the proxy after bootstrap, and (2)
after the broker has answered the n-th Produce request, drop that response and
cut the client's connection. The broker has appended the batch but the client
never hears so: it must retry, which is exactly the case idempotence exists for.
"""

from __future__ import annotations

import socket
import struct
import threading

from wire import recv_frame

PRODUCE = 0
METADATA = 3


def read_uvarint(buf: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[at]
        at += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, at
        shift += 7


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def skip_tagged_fields(buf: bytes, at: int) -> int:
    count, at = read_uvarint(buf, at)
    for _ in range(count):
        _tag, at = read_uvarint(buf, at)
        size, at = read_uvarint(buf, at)
        at += size
    return at


def rewrite_metadata(payload: bytes, version: int, host: str, port: int) -> bytes:
    """A Metadata response with every broker's host and port replaced."""
    flexible = version >= 9
    at = 4  # correlation id
    if flexible:
        at = skip_tagged_fields(payload, at)
    if version >= 3:
        at += 4  # throttle_time_ms
    head = payload[:at]
    if flexible:
        n, at = read_uvarint(payload, at)
        n -= 1
    else:
        (n,) = struct.unpack_from(">i", payload, at)
        at += 4
    out = bytearray(head)
    out += uvarint(n + 1) if flexible else struct.pack(">i", n)
    h = host.encode()
    for _ in range(n):
        node_id = payload[at : at + 4]
        at += 4
        if flexible:
            length, at = read_uvarint(payload, at)
            at += length - 1
        else:
            (length,) = struct.unpack_from(">h", payload, at)
            at += 2 + length
        at += 4  # port
        rack_start = at
        if version >= 1:
            if flexible:
                length, at = read_uvarint(payload, at)
                at += max(length - 1, 0)
            else:
                (length,) = struct.unpack_from(">h", payload, at)
                at += 2 + max(length, 0)
        if flexible:
            at = skip_tagged_fields(payload, at)
        out += node_id
        out += (uvarint(len(h) + 1) + h) if flexible else struct.pack(">h", len(h)) + h
        out += struct.pack(">i", port)
        out += payload[rack_start:at]
    out += payload[at:]
    return bytes(out)


class FaultProxy:
    """Listens on 127.0.0.1:0 and forwards to `upstream` (HOST:PORT). The Produce
    responses whose 1-based sequence number (across all connections) is in
    `drop_produce` are swallowed and their connection cut."""

    def __init__(self, upstream: str, drop_produce=()):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.drop_produce = set(drop_produce)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.produce_responses = 0
        self.dropped = 0
        self.connections = 0
        self.closed = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.closed = True
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            broker.settimeout(None)
            with self.lock:
                self.connections += 1
                self.sockets += [client, broker]
            pending: dict[int, tuple[int, int]] = {}
            threading.Thread(target=self._requests, args=(client, broker, pending), daemon=True).start()
            threading.Thread(target=self._responses, args=(client, broker, pending), daemon=True).start()

    @staticmethod
    def _cut(*socks: socket.socket) -> None:
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _requests(self, client, broker, pending) -> None:
        while True:
            payload = recv_frame(client)
            if payload is None or len(payload) < 8:
                self._cut(client, broker)
                return
            key, version, correlation_id = struct.unpack_from(">hhi", payload, 0)
            pending[correlation_id] = (key, version)
            try:
                broker.sendall(struct.pack(">i", len(payload)) + payload)
            except OSError:
                self._cut(client, broker)
                return

    def _responses(self, client, broker, pending) -> None:
        while True:
            payload = recv_frame(broker)
            if payload is None:
                self._cut(client, broker)
                return
            (correlation_id,) = struct.unpack_from(">i", payload, 0)
            key, version = pending.pop(correlation_id, (-1, -1))
            if key == METADATA:
                payload = rewrite_metadata(payload, version, "127.0.0.1", self.port)
            elif key == PRODUCE:
                with self.lock:
                    self.produce_responses += 1
                    drop = self.produce_responses in self.drop_produce
                    if drop:
                        self.dropped += 1
                if drop:
                    self._cut(client, broker)
                    return
            try:
                client.sendall(struct.pack(">i", len(payload)) + payload)
            except OSError:
                self._cut(client, broker)
                return
