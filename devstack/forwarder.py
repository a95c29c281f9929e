"""A TCP forwarder: it accepts connections on one address and relays each to a target.

The drills use it to give worker hosts in network namespaces a route to services that listen
on 127.0.0.1 only, and to cut every connection to a shared broker at once, as a failure or a
stopped server would, without touching the service itself; the capacity benchmark counts
the broker's protocol frames through it (`observe`).
"""

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

# observe() is given each connection's direction ("up": client to target, "down": back).
Observer = Callable[[str], Callable[[bytes], None]]

_BUFFER = 1 << 16
_ACCEPT_POLL_SECONDS = 0.2


class TcpForwarder:
    def __init__(
        self,
        listen_host: str,
        target: tuple[str, int],
        listen_port: int = 0,
        observe: Observer | None = None,
    ) -> None:
        self.listen_host = listen_host
        self.observe = observe
        self.target = target
        self.port = listen_port
        self.accepted = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._doomed: set[socket.socket] = set()  # Cut: to be reset, never closed cleanly.
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    def start(self) -> "TcpForwarder":
        """Accept connections (again, on the same port after cut())."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen(128)
        listener.settimeout(_ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and reset every open one, as a stopped server does."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() stops listening at once; close() alone would wait for the accept()
            # blocked in the other thread.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            self._doomed |= sockets
        for sock in sockets:
            # Wake the pumps blocked reading it; they reset both sides (_pump).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets |= {client, upstream}
                self.accepted += 1
            done = threading.Semaphore(0)
            for source, sink, direction in ((client, upstream, "up"), (upstream, client, "down")):
                watch = self.observe(direction) if self.observe else None
                threading.Thread(
                    target=self._pump, args=(source, sink, done, watch), daemon=True
                ).start()
            threading.Thread(
                target=self._close_when_done, args=(client, upstream, done), daemon=True
            ).start()

    def _pump(self, source, sink, done: threading.Semaphore, watch) -> None:
        try:
            while data := source.recv(_BUFFER):
                if watch:
                    watch(data)
                sink.sendall(data)
            if source in self._doomed or sink in self._doomed:
                raise ConnectionResetError("cut")
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            # One side reset or was cut: reset the other too.
            _reset(source)
            _reset(sink)
        finally:
            done.release()

    def _close_when_done(self, client: socket.socket, upstream: socket.socket, done) -> None:
        done.acquire()
        done.acquire()
        with self._lock:
            self._sockets -= {client, upstream}
            self._doomed -= {client, upstream}
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a RST (linger 0), so that the peer notices at once; shutting the reading
    side first wakes another thread blocked in recv() on it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()
