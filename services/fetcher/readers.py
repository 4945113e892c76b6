"""Reading one folder's batches over several IMAP connections at once.

Against a distant server one connection moves at most a TCP window per round trip; reading the
next batches on connections of their own, while the current batch is published, multiplies
what a run can move (the benchmark's 20 ms link). Each reader thread opens its connection on
first use and keeps it for the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .sources.imap import ImapMailSource

T = TypeVar("T")


class ReaderPool:
    """``size`` threads, each with its own logged-in connection on ``folder`` (opened lazily, closed
    with the pool). Use as a context manager; leaving it cancels reads not yet started and waits for
    those in flight (never leaves a connection mid-command)."""

    def __init__(self, src: ImapMailSource, folder: str, size: int) -> None:
        self._src, self._folder = src, folder
        self._local = threading.local()
        self._opened: list[ImapMailSource] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="imap-read")

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self._opened:
            conn.__exit__()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(connection, *args)`` on a reader thread."""
        return self._pool.submit(self._run, fn, *args)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        conn: ImapMailSource | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._src.sibling()
            with self._lock:
                self._opened.append(conn)
            self._local.conn = conn
            conn.examine(self._folder)
        return fn(conn, *args)
