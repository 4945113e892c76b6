"""StoreStage: ``mail.matched`` records in, rows in PostgreSQL and file copies in S3, nothing
produced. ``handle`` validates and keeps a record; ``durable`` (called by the runtime before every
offset commit) makes everything kept durable in one transaction, then makes the file copies.

So that PostgreSQL works while Python decodes, every ``send_every_records`` kept records are sent
early, in pipeline mode, inside the batch's open transaction, without waiting for the server;
``durable`` reads the results and commits. Any failure of that fast path (a refused record, a lost
connection) drops the connection, which rolls the transaction back, and ``durable`` writes the
whole batch again on the plain path: one statement in a savepoint, and on a refusal each record in
its own savepoint. Until ``durable`` returns, the kept records stay kept: a failed write is done
again in full on the next call (every write is an upsert), so a retry never commits the offset of
a lost write."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from pydantic import ValidationError

from ..common import metrics
from ..common.adapters.postgres_errors import POISON_TYPES
from ..common.errors import PoisonMessage, TransientError
from ..common.follower import CompactedFollower, wait_until_loaded
from ..common.mailboxes import Mailboxes
from ..common.messages import MailboxOptions, MatchedEnvelope
from ..common.runtime.loop import Rejected, Stage
from ..common.runtime.ports import Output, Record
from ..common.topics import reindex_generation
from .files import PlannedCopy, copy_files, skip_reasons
from .repository import Pending, SaveResult, finish_batch, save_batch, send_batch

log = logging.getLogger(__name__)
SEND_EVERY_RECORDS = 50

# What the database refuses for one record (a value it cannot hold, a key over an index's size
# limit, a constraint) as opposed to a database that is away: the PostgreSQL adapter's poison rows.
REFUSALS: tuple[type[BaseException], ...] = (*POISON_TYPES, UnicodeEncodeError)


class StoreStage(Stage):
    """Writes a batch of matched emails in one transaction, then makes their file copies."""

    name = "storage"

    def __init__(self, connect: Callable[[], Any], mailboxes: Mailboxes | None = None,
                 followers: Sequence[CompactedFollower] = (), s3: Any = None, bucket: str = "",
                 ready_timeout_seconds: float = 30, send_every_records: int = SEND_EVERY_RECORDS) -> None:
        self._connect, self._conn = connect, None
        self._send_every = send_every_records  # 0: no early sending
        self.mailboxes = mailboxes or Mailboxes()
        self.followers, self.ready_timeout = list(followers), ready_timeout_seconds
        self._s3, self._bucket = s3, bucket
        self._kept: list[tuple[Record, Pending]] = []  # accepted, not committed yet
        self._copies: list[PlannedCopy] = []  # committed, not copied yet
        self._rejected: list[Rejected] = []  # refused by the database, not yet returned for the DLQ
        self._early: _EarlyWrite | None = None  # the open pipelined transaction, if any
        self._early_failed = False  # the fast path failed for this batch: durable writes it all again

    def handle(self, record: Record) -> list[Output]:
        wait_until_loaded(self.followers, self.ready_timeout)
        try:
            envelope = MatchedEnvelope.model_validate_json(record.value or b"")
        except ValidationError as exc:
            raise PoisonMessage("invalid_envelope", str(exc)[:500]) from exc
        matched = envelope.payload
        config = self.mailboxes.configs.get(matched.email.sighting.mailbox_id)
        options = config.options if config else MailboxOptions()
        for reason in skip_reasons(matched, options):
            metrics.STORAGE_FILES_SKIPPED.labels(reason=reason).inc()
        if matched.skipped:
            return []  # the matcher skipped it (a filter, "only mails with task association"): not imported
        self._kept.append((record, Pending(matched, envelope.occurred_at, options, reindex_generation(record))))
        sent = self._early.count if self._early else 0
        if self._send_every and not self._early_failed and len(self._kept) - sent >= self._send_every:
            self._send_early()
        return []

    def _send_early(self) -> None:
        try:
            if self._early is None:
                self._early = _EarlyWrite(self._connection())
            self._early.send([p for _, p in self._kept[self._early.count:]])
        except Exception as exc:  # whatever it was, the plain path in durable finds it again
            log.info("early write failed; the batch is written again at its end", extra={"error": repr(exc)})
            self._drop_early()

    def durable(self) -> list[Rejected]:
        """Write and commit every kept record, then copy their files. Blocks on PostgreSQL and S3;
        raises psycopg errors or the S3 adapter's kinds (the runtime retries the transient ones), keeping what
        is not durable yet for the next call. Returns the records PostgreSQL refuses."""
        if self._kept:
            result, rejected = self._write()
            self._rejected += rejected  # returned only once the copies are done too: a failed copy retries durable
            self._kept.clear()
            self._copies += result.copies
            metrics.EMAILS_STORED.inc(result.new_emails + result.merged)
            metrics.STORAGE_DUPLICATES_MERGED.inc(result.merged)
        if self._copies:
            if self._s3 is None:
                raise TransientError("file copies planned but no S3 client configured")
            copied, skipped = copy_files(self._s3, self._bucket, self._copies)
            metrics.STORAGE_FILES_COPIED.inc(copied)
            for reason, count in skipped.items():
                metrics.STORAGE_FILES_SKIPPED.labels(reason=reason).inc(count)
            self._copies.clear()
        rejected, self._rejected = self._rejected, []
        return rejected

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _drop_early(self) -> None:
        """Close the connection (the server rolls the open transaction back)."""
        self._early, self._early_failed = None, True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _write(self) -> tuple[SaveResult, list[Rejected]]:
        started = time.perf_counter()
        early, self._early = self._early, None
        if early is not None and not self._early_failed:
            try:
                early.send([p for _, p in self._kept[early.count:]])
                result = early.commit()
            except Exception as exc:
                log.info("early write failed; writing the batch again", extra={"error": repr(exc)})
                self._drop_early()
            else:
                self._observe(early.started)
                return result, []
        conn = self._connection()
        try:
            with conn.transaction():
                try:
                    with conn.transaction():  # a savepoint: a refusal undoes only the batch statement
                        result, rejected = save_batch(conn, [p for _, p in self._kept]), list[Rejected]()
                except REFUSALS:
                    result, rejected = self._one_by_one(conn)
        except Exception:
            # A broken connection cannot be reused; the next call connects again and writes it all.
            conn.close()
            self._conn = None
            raise
        self._observe(started)
        return result, rejected

    def _observe(self, started: float) -> None:
        self._early_failed = False
        metrics.STORAGE_TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.STORAGE_TRANSACTION_RECORDS.observe(len(self._kept))

    def _one_by_one(self, conn: Any) -> tuple[SaveResult, list[Rejected]]:
        """The batch again, each record in its own savepoint, to find the ones the database refuses."""
        new = merged = 0
        copies: list[PlannedCopy] = []
        rejected: list[Rejected] = []
        for record, pending in self._kept:
            try:
                with conn.transaction():
                    one = save_batch(conn, [pending])
            except REFUSALS as exc:
                rejected.append((record, PoisonMessage("database_refused", f"{type(exc).__name__}: {exc}")))
                continue
            new, merged, copies = new + one.new_emails, merged + one.merged, copies + one.copies
        return SaveResult(new, merged, copies), rejected

    def close(self) -> None:
        """Drop what is not durable (its offsets are not committed either) and disconnect."""
        self._kept.clear()
        self._copies.clear()
        self._rejected.clear()
        self._drop_early()
        self._early_failed = False


class _EarlyWrite:
    """A transaction open in pipeline mode on ``conn``: chunks of records sent without waiting."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.count, self.started = conn, 0, time.perf_counter()
        self.sent: list[tuple[Any, list[Pending]]] = []
        self._stack = ExitStack()
        self._stack.enter_context(conn.pipeline())
        self._stack.enter_context(conn.transaction())

    def send(self, items: list[Pending]) -> None:
        if items:
            self.sent.append((send_batch(self.conn, items), items))
            self.count += len(items)

    def commit(self) -> SaveResult:
        """Read every result, record the file copies, commit; blocks; raises psycopg errors."""
        result = finish_batch(self.conn, self.sent)
        self._stack.close()  # COMMIT, then the pipeline's last sync
        return result
