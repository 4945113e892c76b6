"""The parser's batch path: a poll batch's S3 requests overlapped with its parsing.

Parsing is CPU-bound and stays on the calling thread, record after record, in order. The I/O
around it goes to a small thread pool: the claim-check GETs of the whole batch start at once, as
far as a byte budget allows, and each record's PUTs start as soon as it parsed. The batch returns
only once every PUT finished, so no output can reference an object that is not in S3 yet.

Memory: a claim-checked record holds its ``size`` (the record header) in the budget from the
moment its GET is started until its objects are stored; GETs start in record order, and the
first record waiting is admitted alone when it is larger than the whole budget. So a batch of
100 MB messages is fetched one at a time, as the per-record path does, while a batch of small
ones is fetched all at once. Inline records are already in memory (the Kafka fetch bounds them)
and reserve nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..common.errors import PoisonMessage
from ..common.runtime.ports import Record

R = TypeVar("R")
MIB = 1024 * 1024


@dataclass(frozen=True)
class IOBounds:
    """How much S3 work a batch may have going at once: pool threads and bytes in flight."""

    threads: int = 4
    max_bytes_in_flight: int = 64 * MIB


DEFAULT_IO = IOBounds()


class ByteBudget:
    """Bytes held by records whose GET started and whose objects are not stored yet. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0
        self._cond = threading.Condition()

    def try_acquire(self, nbytes: int) -> bool:
        """Take ``nbytes`` if they fit (or nothing is held); never blocks."""
        with self._cond:
            if self.held and self.held + nbytes > self.limit:
                return False
            self.held += nbytes
            return True

    def acquire(self, nbytes: int) -> None:
        """Take ``nbytes``, blocking until they fit or nothing is held (one record larger than
        the whole budget goes through alone)."""
        with self._cond:
            self._cond.wait_for(lambda: not self.held or self.held + nbytes <= self.limit)
            self.held += nbytes

    def release(self, nbytes: int) -> None:
        with self._cond:
            self.held -= nbytes
            self._cond.notify_all()


@dataclass(frozen=True)
class Plan:
    """What a record needs before parsing: the claim-check key to GET (None: inline) and the
    bytes to reserve for it."""

    claim: str | None
    size: int


@dataclass
class Parsed(Generic[R]):
    """A record's parse: its result and the objects to store (content key → bytes)."""

    result: R
    pending: dict[str, bytes]


class _PendingPuts:
    """Releases a record's reservation once the last of its PUTs finished (stored or failed)."""

    def __init__(self, budget: ByteBudget, nbytes: int, count: int) -> None:
        self._budget, self._nbytes, self._left = budget, nbytes, count
        self._lock = threading.Lock()

    def done(self, _: Future[None]) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._budget.release(self._nbytes)


class OverlappedBatch(Generic[R]):
    """One batch's run. ``plan(record)`` validates the record and says what to GET (raises
    PoisonMessage); ``fetch(key)`` runs on the pool (PoisonMessage for a missing object, a
    transient error otherwise); ``parse(record, raw)`` runs on the calling thread (``raw`` is the
    claim-check's bytes, None for an inline record; raises PoisonMessage); ``store(key, data)``
    runs on the pool and must be idempotent (content-addressed)."""

    def __init__(self, pool: Executor, bounds: IOBounds, plan: Callable[[Record], Plan],
                 fetch: Callable[[str], bytes], parse: Callable[[Record, bytes | None], Parsed[R]],
                 store: Callable[[str, bytes], None]) -> None:
        self._pool, self._plan, self._fetch, self._parse, self._store = pool, plan, fetch, parse, store
        self.budget = ByteBudget(bounds.max_bytes_in_flight)
        self._gets: dict[int, Future[bytes]] = {}
        self._reserved: dict[int, int] = {}
        self._puts: list[Future[None]] = []
        self._stored: set[str] = set()  # keys PUT in this batch: the same attachment twice is one PUT
        self._failed: Future[None] | None = None  # the first PUT that raised

    def run(self, records: Sequence[Record]) -> list[R | PoisonMessage]:
        """Every record's result or poison, in order, once every PUT of the batch finished.
        Blocks on the pool. Raises the first GET or PUT error that is not poison (after every
        request of the batch ended, so a retry never overlaps this run's requests)."""
        try:
            return self._run(records)
        except BaseException:
            futures: list[Future[Any]] = [*self._gets.values(), *self._puts]
            for future in futures:
                future.cancel()
            wait(futures)
            raise

    def _run(self, records: Sequence[Record]) -> list[R | PoisonMessage]:
        plans: list[Plan | PoisonMessage] = []
        for record in records:
            try:
                plans.append(self._plan(record))
            except PoisonMessage as exc:
                plans.append(exc)
        queue = [i for i, p in enumerate(plans) if isinstance(p, Plan) and p.claim is not None]
        queued = 0  # queue[:queued] have their GET started: always in record order

        def start(i: int, block: bool) -> bool:
            plan = plans[i]
            assert isinstance(plan, Plan) and plan.claim is not None
            if block:
                self.budget.acquire(plan.size)
            elif not self.budget.try_acquire(plan.size):
                return False
            self._reserved[i] = plan.size
            self._gets[i] = self._pool.submit(self._fetch, plan.claim)
            return True

        outcomes: list[R | PoisonMessage] = []
        for i, record in enumerate(records):
            while queued < len(queue) and start(queue[queued], block=queue[queued] == i):
                queued += 1
            self._raise_failed_put()
            plan = plans[i]
            if isinstance(plan, PoisonMessage):
                outcomes.append(plan)
                continue
            try:
                raw = self._gets.pop(i).result() if plan.claim is not None else None
                parsed = self._parse(record, raw)
            except PoisonMessage as exc:
                self.budget.release(self._reserved.pop(i, 0))
                outcomes.append(exc)
                continue
            del raw  # the claim-check's bytes may go before the PUTs finish
            self._put(parsed.pending, self._reserved.pop(i, 0))
            outcomes.append(parsed.result)
        wait(self._puts)
        self._raise_failed_put()
        return outcomes

    def _put(self, pending: dict[str, bytes], reserved: int) -> None:
        fresh = [(key, data) for key, data in pending.items() if key not in self._stored]
        if not fresh:
            self.budget.release(reserved)
            return
        self._stored.update(key for key, _ in fresh)
        release = _PendingPuts(self.budget, reserved, len(fresh))
        for key, data in fresh:
            future = self._pool.submit(self._store, key, data)
            future.add_done_callback(release.done)
            future.add_done_callback(self._note_failure)
            self._puts.append(future)

    def _note_failure(self, future: Future[None]) -> None:
        if self._failed is None and not future.cancelled() and future.exception() is not None:
            self._failed = future

    def _raise_failed_put(self) -> None:
        """A PUT that failed fails the batch: raise its error now rather than parse on in vain."""
        if self._failed is not None:
            self._failed.result()
