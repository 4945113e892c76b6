"""One small HTTP server per process: ``/metrics`` (Prometheus), ``/healthz`` (alive: the main
loop made progress recently) and ``/readyz`` (ready: the service says it can do its work)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class Health:
    """Liveness and readiness state, updated by the service, read by the HTTP server."""

    def __init__(self, stall_seconds: float = 120.0) -> None:
        self._last_progress = time.monotonic()
        self._ready = False
        self.stall_seconds = stall_seconds

    def progress(self) -> None:
        """Called by the main loop each time round; never blocks."""
        self._last_progress = time.monotonic()

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._last_progress < self.stall_seconds

    @property
    def ready(self) -> bool:
        return self._ready and self.alive


def serve(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread and return the server (``server_address`` has the
    real port when ``port`` was 0). Raises OSError when the address is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/metrics":
                self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply(200 if health.alive else 503, b"ok\n" if health.alive else b"stalled\n")
            elif self.path == "/readyz":
                self._reply(200 if health.ready else 503, b"ready\n" if health.ready else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the JSON log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
