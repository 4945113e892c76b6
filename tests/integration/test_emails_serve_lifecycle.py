"""``mailpipe emails serve`` as Kubernetes runs it: a real subprocess against the real PostgreSQL
of the stack, probed on ``/healthz`` and ``/readyz`` on the API's own port, and stopped with
SIGTERM while requests are in flight.

The in-flight request is held open by the client, not by the server: it sends its request line
and keeps the rest of its headers back until the drain has begun (no sleep in production code)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from mailpipe.common.messages import MailboxOptions, MatchedEmail
from mailpipe.storage.repository import save_matched

from tests.integration.test_storage_store import T0, parsed

TOKEN = "lifecycle-token"
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port
        self.held: list[socket.socket] = []

    def get(self, path: str) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def hold(self, request_line: str) -> socket.socket:
        """A connection that has sent only its request line: a request in flight until ``release``."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.sendall(f"{request_line}\r\n".encode())
        self.held.append(sock)  # closed by the fixture whatever the test does
        return sock


def release(sock: socket.socket, headers: str = "") -> tuple[int, Any]:
    """Send the rest of a held request and read its whole answer (HTTP/1.0: until the server closes)."""
    sock.sendall(f"{headers}\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # it was still in the backlog when the listening socket closed
        return False
    return False


Start = Callable[..., Served]


@pytest.fixture
def start(pg_dsn: str) -> Iterator[Start]:
    """``start(**MAILPIPE_STORAGE__API_* overrides, dsn=...)``: a ``mailpipe emails serve`` subprocess
    on a free port over a database holding one email."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        save_matched(conn, MatchedEmail(email=parsed(1, "box", 1)), T0, MailboxOptions())
    procs: list[subprocess.Popen[str]] = []
    served: list[Served] = []

    def run(dsn: str = pg_dsn, **options: str) -> Served:
        env = {**os.environ, "MAILPIPE_POSTGRES__DSN": dsn, "MAILPIPE_STORAGE__API_TOKEN": TOKEN,
               "MAILPIPE_STORAGE__API_PORT": "0", "MAILPIPE_STORAGE__API_SOCKET_TIMEOUT_SECONDS": "60",
               **{f"MAILPIPE_STORAGE__API_{k.upper()}": v for k, v in options.items()}}
        proc = subprocess.Popen([sys.executable, "-m", "mailpipe", "emails", "serve"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "serving http://127.0.0.1:<port>/emails ..."
        assert line.startswith("serving http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
        served.append(Served(proc, int(line.split("/")[2].split(":")[1])))
        return served[-1]

    yield run
    for sock in (sock for one in served for sock in one.held):
        sock.close()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_healthz_and_readyz_answer_200_with_postgres_up(start: Start) -> None:
    served = start()
    assert served.get("/healthz") == (200, {"status": "ok"})
    assert served.get("/readyz") == (200, {"status": "ready"})


def test_readyz_is_503_with_a_reason_when_postgres_is_unreachable_and_healthz_stays_200(
        start: Start, pg_dsn: str) -> None:
    dead = socket.socket()  # bound, never listening: connections to it are refused, no one else gets it
    dead.bind(("127.0.0.1", 0))
    password = psycopg.conninfo.conninfo_to_dict(pg_dsn)["password"]
    try:
        dsn = psycopg.conninfo.make_conninfo(pg_dsn, port=str(dead.getsockname()[1]))
        served = start(dsn=dsn)
        status, body = served.get("/readyz")
        assert status == 503 and body["status"] == "not ready" and "PostgreSQL" in body["reason"]
        text = json.dumps(body)
        assert str(password) not in text and str(dead.getsockname()[1]) not in text  # no DSN in the answer
        assert served.get("/healthz") == (200, {"status": "ok"})
    finally:
        dead.close()


def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(start: Start) -> None:
    served = start(drain_grace_seconds="60")
    listing = served.hold("GET /emails?limit=1000 HTTP/1.0")
    readiness = served.hold("GET /readyz HTTP/1.0")
    # a full request on a later connection: once answered, the accept loop has passed the held
    # connections (accepted earlier, their bytes already there) to workers
    assert served.get("/healthz")[0] == 200

    served.proc.send_signal(signal.SIGTERM)
    while not refused(served.port):  # the listening socket closes at once (the test's timeout bounds this)
        pass
    assert served.proc.poll() is None  # still draining: two requests are in flight

    status, body = release(readiness)
    assert (status, body["status"]) == (503, "draining")  # Kubernetes stops routing here
    status, rows = release(listing, f"Authorization: Bearer {TOKEN}\r\n")
    assert status == 200 and [r["subject"] for r in rows] == ["Report 1 [Task#101]"]

    assert served.proc.wait(timeout=60) == 0
    assert served.proc.stderr is not None
    lines = [json.loads(line) for line in served.proc.stderr.read().splitlines() if line.startswith("{")]
    stopped = [line for line in lines if line.get("msg") == "stopped"]
    assert stopped and stopped[-1]["stage"] == "emails-api" and stopped[-1]["cut"] == 0


def test_requests_still_held_when_the_grace_ends_are_cut_and_the_process_exits_0(start: Start) -> None:
    served = start(drain_grace_seconds="1")
    held = served.hold("GET /emails HTTP/1.0")
    assert served.get("/healthz")[0] == 200
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0  # the socket timeout (60 s) would have kept it longer
    try:
        answer = held.recv(65536)
    except ConnectionResetError:  # cut: closed or reset, whichever the kernel reports
        answer = b""
    held.close()
    assert answer == b""
    assert served.proc.stderr is not None
    lines = [json.loads(line) for line in served.proc.stderr.read().splitlines() if line.startswith("{")]
    assert [line["cut"] for line in lines if line.get("msg") == "stopped"] == [1]


def test_a_grace_that_is_not_positive_is_refused_naming_the_variable(start: Start) -> None:
    env = {**os.environ, "MAILPIPE_STORAGE__API_TOKEN": TOKEN, "MAILPIPE_STORAGE__API_DRAIN_GRACE_SECONDS": "0"}
    done = subprocess.run([sys.executable, "-m", "mailpipe", "emails", "serve"], env=env, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 2
    assert "MAILPIPE_STORAGE__API_DRAIN_GRACE_SECONDS: Input should be greater than 0" in done.stderr


def test_a_port_in_use_stops_the_start_naming_the_variables() -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        env = {**os.environ, "MAILPIPE_STORAGE__API_TOKEN": TOKEN,
               "MAILPIPE_STORAGE__API_PORT": str(taken.getsockname()[1])}
        done = subprocess.run([sys.executable, "-m", "mailpipe", "emails", "serve"], env=env, text=True,
                              capture_output=True, timeout=60)
    finally:
        taken.close()
    assert done.returncode == 2 and "MAILPIPE_STORAGE__API_PORT" in done.stderr and "Traceback" not in done.stderr
