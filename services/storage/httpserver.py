"""The HTTP server under ``mailpipe emails serve``: a fixed number of worker threads whatever the
clients do, and no client holding one for long.

The standard library's ``ThreadingHTTPServer`` starts a thread per connection and never times a
read out, so 300 half-open connections held 301 threads forever. Here (the model of gunicorn's
``gthread`` worker) one thread accepts connections and keeps them in a selector until their first
bytes arrive; only then does a connection go to the bounded pool of workers, so an idle connection
costs a file descriptor, never a thread. A connection that sends nothing for the socket timeout is
closed; once a worker has it, the request line and headers must arrive within one more socket
timeout in total (a client dribbling a byte at a time is cut off too), and every write is bounded
by the same timeout. At most ``max_connections`` are open at once; beyond that the server stops
accepting and new connections wait in the listen backlog (then the kernel's SYN retries).

Stopping is a drain (``begin_drain`` from a signal handler, then ``drain``): the listening socket
closes so new connections are refused, the requests already held (by a worker, or arrived on an
accepted connection) finish within a grace period, and those still running when it ends are cut
by shutting their sockets down. Connections that sent nothing yet are closed: no request is lost."""

from __future__ import annotations

import io
import logging
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

from ..common.health import Health

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)


class BoundedHTTPServer(HTTPServer):
    """An HTTP/1.0 server with ``workers`` handler threads plus the calling thread, which accepts
    and waits for requests in ``serve_forever`` (blocks until ``shutdown`` or ``begin_drain``). Use
    it with a ``TimedRequestHandler``. ``health`` is alive while the accept loop turns and ready
    from the first turn until the drain begins."""

    request_queue_size = 128  # listen backlog: where connections wait while max_connections are open

    def __init__(self, address: tuple[str, int], handler: type[TimedRequestHandler], *, workers: int,
                 socket_timeout_seconds: float, max_connections: int, health: Health | None = None) -> None:
        if workers < 1 or max_connections < workers or socket_timeout_seconds <= 0:
            raise ValueError("need workers >= 1, max_connections >= workers and a positive socket timeout")
        self.socket_timeout_seconds = socket_timeout_seconds
        self._max_connections = max_connections
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mailpipe-api")
        self._open = 0  # accepted and not yet closed: waiting for bytes, queued or in a worker
        self._lock = threading.Lock()
        self._held: set[socket.socket] = set()  # given to the pool and not yet closed: requests in flight
        self._released = threading.Condition(self._lock)  # notified whenever one of them closes
        self.health = health or Health()
        self.draining = threading.Event()
        self._stop, self._stopped = threading.Event(), threading.Event()
        self._stopped.set()
        self._wake_reader, self._wake_writer = socket.socketpair()  # a closed connection frees a slot
        self._wake_writer.setblocking(False)
        super().__init__(address, handler)  # last: when binding fails it calls server_close, which needs the above
        self.socket.setblocking(False)  # a client gone between readiness and accept must not block the loop

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        waiting: dict[socket.socket, tuple[Any, float]] = {}  # connection -> (address, when it is dropped)
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ)
            accepting = False
            try:
                self.health.set_ready(not self.draining.is_set())
                while not self._stop.is_set():
                    self.health.progress()
                    with self._lock:
                        room = self._open < self._max_connections
                    if room != accepting:
                        if room:
                            selector.register(self.socket, selectors.EVENT_READ)
                        else:
                            selector.unregister(self.socket)
                        accepting = room
                    now = time.monotonic()
                    timeout = min([poll_interval, *(dropped - now for _, dropped in waiting.values())])
                    for key, _ in selector.select(max(timeout, 0)):
                        if key.fileobj is self.socket:
                            self._accept(selector, waiting)
                        elif key.fileobj is self._wake_reader:
                            self._wake_reader.recv(4096)
                        else:  # the first bytes of a request: a worker takes it from here
                            selector.unregister(key.fileobj)
                            conn = key.fileobj
                            assert isinstance(conn, socket.socket)
                            self._hand_over(conn, waiting.pop(conn)[0])
                    now = time.monotonic()
                    for conn in [c for c, (_, dropped) in waiting.items() if dropped <= now]:
                        selector.unregister(conn)
                        del waiting[conn]
                        self._close(conn)
            finally:
                if self.draining.is_set():  # a request whose bytes arrived is in flight: serve it
                    for key, _ in selector.select(0):
                        conn = key.fileobj
                        if isinstance(conn, socket.socket) and conn in waiting:
                            self._hand_over(conn, waiting.pop(conn)[0])
                for conn in waiting:
                    self._close(conn)
                self._stop.clear()
                self._stopped.set()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (run in another thread) and wait until it has returned."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def begin_drain(self) -> None:
        """Start draining: readiness off, ``serve_forever`` returns after its current turn. Never
        blocks, so a signal handler on the serving thread may call it; ``drain`` does the rest."""
        self.draining.set()
        self.health.set_ready(False)
        self._stop.set()
        self._wake()

    def drain(self, grace_seconds: float) -> int:
        """After ``serve_forever`` returned: close the listening socket (new connections are
        refused), wait up to ``grace_seconds`` for the requests in flight, then cut the rest (their
        sockets shut down, so a worker blocked on the client returns at once). Blocks at most the
        grace; returns how many requests were cut."""
        self.begin_drain()
        self.socket.close()
        deadline = time.monotonic() + grace_seconds
        with self._lock:
            while self._held and (left := deadline - time.monotonic()) > 0:
                self._released.wait(left)
            cut = list(self._held)
        for conn in cut:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile
        if cut:
            log.warning("emails API: requests cut at the end of the drain", extra={"cut": len(cut)})
        return len(cut)

    def server_close(self) -> None:
        """Close the listening socket; waits for the requests the workers already hold."""
        super().server_close()
        self._pool.shutdown(wait=True)
        self._wake_reader.close()
        self._wake_writer.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # JSON logs, and no client address (the stdlib prints both to stderr)
        log.exception("emails API: a request failed")

    def _accept(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, tuple[Any, float]]) -> None:
        try:
            conn, address = self.socket.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # the client left before we took it
        except OSError as exc:  # out of descriptors (EMFILE): the connection stays in the backlog
            log.warning("emails API: cannot accept a connection", extra={"error": type(exc).__name__})
            time.sleep(0.1)  # the listening socket stays readable: do not spin on it
            return
        conn.settimeout(self.socket_timeout_seconds)
        with self._lock:
            self._open += 1
        waiting[conn] = (address, time.monotonic() + self.socket_timeout_seconds)
        selector.register(conn, selectors.EVENT_READ)

    def _hand_over(self, conn: socket.socket, address: Any) -> None:
        with self._lock:
            self._held.add(conn)
        self._pool.submit(self._work, conn, address)

    def _work(self, conn: socket.socket, address: Any) -> None:
        try:
            self.finish_request(conn, address)
        except ConnectionError:
            pass  # the client went away mid-response: nothing to tell anyone
        except Exception:
            self.handle_error(conn, address)
        finally:
            self._close(conn)

    def _close(self, conn: socket.socket) -> None:
        self.shutdown_request(conn)
        with self._lock:
            self._held.discard(conn)
            self._released.notify_all()
            self._open -= 1
            full = self._open == self._max_connections - 1
        if full:  # the loop had stopped accepting: tell it there is room again
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # already full (the loop will wake anyway) or closed


class TimedRequestHandler(BaseHTTPRequestHandler):
    """Reads the request line and headers under one deadline: the server's socket timeout from the
    moment a worker takes the connection. ``BaseHTTPRequestHandler`` turns the TimeoutError into a
    closed connection."""

    server: BoundedHTTPServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader, replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.server.socket_timeout_seconds))


class _DeadlineReader(io.RawIOBase):
    """Socket reads that together take at most ``seconds``; each read then restores the socket's
    timeout (``seconds``) for the writes of the response."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        super().__init__()
        self._sock, self._seconds = sock, seconds
        self._deadline = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive within the socket timeout")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._seconds)
