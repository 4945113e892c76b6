"""StoreStage: ``mail.matched`` records in, rows in PostgreSQL and file copies in S3, nothing
produced. ``handle`` only validates and keeps a record; ``durable`` (called by the runtime before
every offset commit) writes everything kept in one transaction, commits it, then makes the file
copies. Until ``durable`` returns, the kept records stay kept: a failed write is done again in full
on the next call (every write is an upsert), so a retry never commits the offset of a lost write."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage, TransientError
from ..common.messages import MailboxOptions, MatchedEnvelope
from ..common.runtime.loop import Rejected
from ..common.runtime.ports import Output, Record
from ..matcher.follower import CompactedFollower, Mailboxes
from .files import PlannedCopy, copy_files, skip_reasons
from .repository import Pending, SaveResult, save_batch

# What the database refuses for one record (a value it cannot hold, a key over an index's size
# limit, a constraint) as opposed to a database that is away. ProgramLimitExceeded is an
# OperationalError in psycopg, so it is named before the transient check sees it.
REFUSALS = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded, UnicodeEncodeError)


class StoreStage:
    """Writes a batch of matched emails in one transaction, then makes their file copies."""

    name = "storage"

    def __init__(self, connect: Callable[[], Any], mailboxes: Mailboxes | None = None,
                 followers: Sequence[CompactedFollower] = (), s3: Any = None, bucket: str = "",
                 ready_timeout_seconds: float = 30) -> None:
        self._connect, self._conn = connect, None
        self.mailboxes = mailboxes or Mailboxes()
        self.followers, self.ready_timeout = list(followers), ready_timeout_seconds
        self._s3, self._bucket = s3, bucket
        self._kept: list[tuple[Record, Pending]] = []  # accepted, not committed yet
        self._copies: list[PlannedCopy] = []  # committed, not copied yet

    def handle(self, record: Record) -> list[Output]:
        for f in self.followers:
            if f.failed is not None:
                raise TransientError(f"{f.topic} follower stopped: {f.failed!r}")
            if not f.caught_up.wait(timeout=self.ready_timeout):
                raise TransientError(f"{f.topic} not loaded yet")
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
        self._kept.append((record, Pending(matched, envelope.occurred_at, options)))
        return []

    def durable(self) -> list[Rejected]:
        """Write and commit every kept record, then copy their files. Blocks on PostgreSQL and S3;
        raises psycopg or botocore errors (the runtime retries the transient ones), keeping what
        is not durable yet for the next call. Returns the records PostgreSQL refuses."""
        rejected: list[Rejected] = []
        if self._kept:
            result, rejected = self._write()
            self._kept.clear()
            self._copies += result.copies
            metrics.EMAILS_STORED.inc(result.new_emails + result.merged)
            metrics.STORAGE_DUPLICATES_MERGED.inc(result.merged)
        if self._copies:
            if self._s3 is None:
                raise TransientError("file copies planned but no S3 client configured")
            metrics.STORAGE_FILES_COPIED.inc(copy_files(self._s3, self._bucket, self._copies))
            self._copies.clear()
        return rejected

    def _write(self) -> tuple[SaveResult, list[Rejected]]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        conn, started = self._conn, time.perf_counter()
        try:
            with conn.transaction():
                try:
                    with conn.transaction():  # a savepoint: a refusal undoes only the batch statement
                        result, rejected = save_batch(conn, [p for _, p in self._kept]), []
                except REFUSALS:
                    result, rejected = self._one_by_one(conn)
        except Exception:
            # A broken connection cannot be reused; the next call connects again and writes it all.
            conn.close()
            self._conn = None
            raise
        metrics.STORAGE_TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.STORAGE_TRANSACTION_RECORDS.observe(len(self._kept))
        return result, rejected

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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
