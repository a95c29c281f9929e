"""Protocol counters for the capacity benchmark: they read the bytes a TcpForwarder relays
and count what crossed the wire, per message type, without changing anything.

- AMQP 0-9-1 (RabbitMQ): method frames by name (basic.publish, basic.deliver, basic.ack, ...),
  publishes split by exchange (task messages and Celery's events), and bytes.
- PostgreSQL: statements the clients sent (simple Query and extended-protocol Execute
  messages), transactions ended (ReadyForQuery back to idle), round trips (ReadyForQuery),
  and bytes. Needs `sslmode=disable`, or there is nothing to read.
"""

import struct
import threading
from collections import Counter

_AMQP_METHODS = {
    (10, 10): "connection.start",
    (10, 11): "connection.start-ok",
    (10, 30): "connection.tune",
    (10, 31): "connection.tune-ok",
    (10, 40): "connection.open",
    (10, 41): "connection.open-ok",
    (10, 50): "connection.close",
    (10, 51): "connection.close-ok",
    (20, 10): "channel.open",
    (20, 11): "channel.open-ok",
    (20, 40): "channel.close",
    (20, 41): "channel.close-ok",
    (40, 10): "exchange.declare",
    (40, 11): "exchange.declare-ok",
    (50, 10): "queue.declare",
    (50, 11): "queue.declare-ok",
    (50, 20): "queue.bind",
    (50, 21): "queue.bind-ok",
    (60, 10): "basic.qos",
    (60, 11): "basic.qos-ok",
    (60, 20): "basic.consume",
    (60, 21): "basic.consume-ok",
    (60, 40): "basic.publish",
    (60, 60): "basic.deliver",
    (60, 80): "basic.ack",
    (60, 90): "basic.reject",
    (60, 120): "basic.nack",
    (85, 10): "confirm.select",
    (85, 11): "confirm.select-ok",
}
_AMQP_HEADER = b"AMQP"
_AMQP_FRAME_END = 0xCE


class WireCounts:
    """Counts shared by every connection of a forwarder; snapshot() for deltas."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._lock = threading.Lock()

    def add(self, items: Counter) -> None:
        with self._lock:
            self.counts.update(items)

    def snapshot(self) -> Counter:
        with self._lock:
            return Counter(self.counts)


class _Stream:
    """Reassembles one direction of one connection into messages."""

    def __init__(self, counts: WireCounts, direction: str) -> None:
        self.counts, self.direction = counts, direction
        self.buffer = bytearray()

    def __call__(self, data: bytes) -> None:
        self.buffer += data
        found: Counter = Counter({f"bytes {self.direction}": len(data)})
        self.parse(found)
        self.counts.add(found)

    def parse(self, found: Counter) -> None:
        raise NotImplementedError


class _AmqpStream(_Stream):
    def parse(self, found: Counter) -> None:
        buffer = self.buffer
        if buffer[:4] == _AMQP_HEADER:  # The protocol header opens a client's stream.
            del buffer[:8]
        while len(buffer) >= 8:
            kind, _, size = struct.unpack_from(">BHI", buffer)
            if len(buffer) < 8 + size:
                return
            payload = bytes(buffer[7 : 7 + size])
            assert buffer[7 + size] == _AMQP_FRAME_END, "lost AMQP frame boundaries"
            del buffer[: 8 + size]
            if kind == 1:
                class_id, method_id = struct.unpack_from(">HH", payload)
                name = _AMQP_METHODS.get((class_id, method_id), f"method {class_id}.{method_id}")
                if name == "basic.ack" and self.direction == "down":
                    name = "basic.ack (publisher confirm)"
                found[name] += 1
                if name == "basic.publish":
                    length = payload[6]
                    exchange = payload[7 : 7 + length].decode() or "(default)"
                    found[f"basic.publish to {exchange}"] += 1
            elif kind == 8:
                found["heartbeat"] += 1


class _PostgresStream(_Stream):
    def __init__(self, counts: WireCounts, direction: str) -> None:
        super().__init__(counts, direction)
        self.started = direction == "down"  # A client's first message has no type byte.

    def parse(self, found: Counter) -> None:
        buffer = self.buffer
        if not self.started:
            if len(buffer) < 8:
                return
            (size,) = struct.unpack_from(">I", buffer)
            del buffer[:size]
            self.started = True
        while len(buffer) >= 5:
            kind = chr(buffer[0])
            (size,) = struct.unpack_from(">I", buffer, 1)
            if len(buffer) < 1 + size:
                return
            status = chr(buffer[5]) if kind == "Z" else ""
            del buffer[: 1 + size]
            if self.direction == "up" and kind in "QE":
                found["statements"] += 1
            elif self.direction == "down" and kind == "Z":
                found["round trips"] += 1
                if status == "I":
                    found["transactions"] += 1


def amqp_observer(counts: WireCounts):
    return lambda direction: _AmqpStream(counts, direction)


def postgres_observer(counts: WireCounts):
    return lambda direction: _PostgresStream(counts, direction)
