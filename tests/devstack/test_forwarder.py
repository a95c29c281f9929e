import socket
import threading

import pytest

from devstack.forwarder import TcpForwarder


@pytest.fixture
def echo_server():
    """A TCP server that sends back what it receives, until its client closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    def echo(connection: socket.socket) -> None:
        with connection:
            try:
                while data := connection.recv(65536):
                    connection.sendall(data)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()
    listener.close()


def round_trip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        received = b""
        while data := client.recv(65536):
            received += data
        return received


def test_forwarder_relays_both_ways_and_lets_an_observer_see_every_byte(echo_server):
    seen = {"up": 0, "down": 0}

    def observe(direction: str):
        def count(data: bytes) -> None:
            seen[direction] += len(data)

        return count

    forwarder = TcpForwarder("127.0.0.1", echo_server, observe=observe).start()
    try:
        payload = bytes(range(256)) * 4096  # 1 MiB
        assert round_trip(forwarder.port, payload) == payload
        assert seen == {"up": len(payload), "down": len(payload)}
    finally:
        forwarder.close()


def test_forwarder_cut_resets_open_connections_and_refuses_until_started_again(echo_server):
    forwarder = TcpForwarder("127.0.0.1", echo_server).start()
    client = socket.create_connection(("127.0.0.1", forwarder.port), timeout=5)
    client.sendall(b"ping")
    assert client.recv(4) == b"ping"
    forwarder.cut()
    with pytest.raises(ConnectionResetError):  # A reset, as from a server that died.
        client.recv(4)
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", forwarder.port), timeout=5)
    forwarder.start()
    try:
        assert round_trip(forwarder.port, b"back") == b"back"
    finally:
        forwarder.close()
