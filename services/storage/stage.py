"""StoreStage: a ``mail.matched`` record in, rows in PostgreSQL and file copies in S3, nothing
produced. The runtime commits the offset only after both are durable."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage, TransientError
from ..common.messages import MailboxOptions, MatchedEnvelope
from ..common.runtime.ports import Output, Record
from ..matcher.follower import CompactedFollower, Mailboxes
from .files import copy_files
from .repository import save_matched


class StoreStage:
    """Writes each matched email in one transaction, then makes its file copies."""

    name = "storage"

    def __init__(self, connect: Callable[[], Any], mailboxes: Mailboxes | None = None,
                 followers: Sequence[CompactedFollower] = (), s3: Any = None, bucket: str = "",
                 ready_timeout_seconds: float = 30) -> None:
        self._connect, self._conn = connect, None
        self.mailboxes = mailboxes or Mailboxes()
        self.followers, self.ready_timeout = list(followers), ready_timeout_seconds
        self._s3, self._bucket = s3, bucket

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
        if matched.skipped:
            return []  # the matcher skipped it (a filter, "only mails with task association"): not imported
        config = self.mailboxes.configs.get(matched.email.sighting.mailbox_id)
        options = config.options if config else MailboxOptions()
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        started = time.perf_counter()
        try:
            result = save_matched(self._conn, matched, envelope.occurred_at, options)
        except Exception:
            # A broken connection cannot be reused; the retry reconnects.
            self._conn.close()
            self._conn = None
            raise
        metrics.STORAGE_TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.EMAILS_STORED.inc()
        if not result.new_email:
            metrics.STORAGE_DUPLICATES_MERGED.inc()
        if result.copies:
            if self._s3 is None:
                raise TransientError("file copies planned but no S3 client configured")
            metrics.STORAGE_FILES_COPIED.inc(copy_files(self._s3, self._bucket, result.copies))
        return []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
