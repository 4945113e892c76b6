"""The retry loop: deferred mail whose time came, held mail whose mailbox may send again, and
sends whose lease expired (their sender died between the server's answer and the ledger's).

Runs in its own thread with its own connection; each row is leased before it is sent, so two
sender replicas never send one row at once. A row refused here is dead-lettered from the request
kept in the ledger, the dead letter flushed, and only then recorded as refused. Blocks on
PostgreSQL, the SMTP servers and Kafka (dead letters only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.runtime.dlq import dead_letter
from ..common.runtime.ports import ProducerPort, Record
from ..common.secretbox import SealedBox
from . import accounts, ledger, requests
from .delivery import Deliverer, Result, refused
from .settings import SenderOptions
from .stage import Composer, permitted

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_SECONDS = 60.0


class Retrier:
    """``run_once`` takes up to ``batch`` due rows; ``run`` repeats it until ``stop`` is set."""

    def __init__(self, connect: Callable[[], Any], box: SealedBox, opts: SenderOptions, producer: ProducerPort,
                 composer: Composer | None = None, batch: int = 50) -> None:
        self._connect, self.box, self.opts, self.producer = connect, box, opts, producer
        self.composer = composer or Composer(opts)
        self.deliverer = Deliverer(box, opts)
        self.batch = batch

    def run(self, stop: threading.Event) -> None:
        conn = None
        while not stop.wait(self.opts.retry_interval_seconds):
            try:
                conn = conn if conn is not None and not conn.closed else self._connect()
                self.run_once(conn)
            except Exception:  # PostgreSQL or Kafka away: the next round tries again; the stage's own loop decides
                log.exception("retry round failed")
                if conn is not None:
                    conn.close()
                conn = None

    def run_once(self, conn: Any) -> dict[str, int]:
        """Try every due row once; returns the outcomes counted. Each row is leased first, so two
        replicas' loops never act on one row together; a row that fails in a way nobody foresaw
        is logged and left to its lease (tried again when it runs out), never blocking the rest."""
        counts: dict[str, int] = {}
        for outbound_id in ledger.due(conn, self.batch, self.opts.give_up_after_hours):
            try:
                status = self._one(conn, outbound_id)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the connection itself: run() opens another
            except Exception:
                log.exception("retry of one message failed", extra={"outbound_id": str(outbound_id)})
                status = "failed"
            if status:
                counts[status] = counts.get(status, 0) + 1
        self._gauges(conn)
        return counts

    def _one(self, conn: Any, outbound_id: Any) -> str | None:
        """Lease, then expire, compose or send one row; its outcome (None: someone else has it, or
        it is held again)."""
        row = ledger.get(conn, outbound_id)
        # an uncomposed row's recipients are not known yet: lease it as for a long list
        lease = self.opts.lease_for(len(row.recipients) if row and row.message else 100)
        if row is None or not ledger.lease(conn, outbound_id, lease):
            return None
        leased = ledger.get(conn, outbound_id)
        assert leased is not None
        result = self.deliverer.expired(leased, leased.reason or "") or self._attempt(conn, leased)
        if result is None:
            return None
        if result.status == "refused":
            self._dead_letter(leased, result.reason, result.detail)
            refused(conn, leased, result)
        return result.status

    def _attempt(self, conn: Any, row: ledger.Row) -> Result | None:
        """Send the leased row, composed first when it was held before it could be (the mailbox's
        sharing checked then too); None when it still cannot be (held again, looked at after
        ``backoff_base_seconds``)."""
        account = None
        if not row.message:
            try:
                request = requests.decode(row.source.value)
                try:
                    account = accounts.load(conn, self.box, row.mailbox_id)
                except accounts.CannotSend as exc:
                    permitted(request, exc.mailbox)  # who asked may not: refused, whatever the mailbox's state
                    raise
                permitted(request, account.mailbox)
                composed = self.composer.compose(request, account)
            except (accounts.CannotSend, accounts.UnknownMailbox) as exc:
                ledger.settle(conn, row.outbound_id, "held", row.reason or str(exc), self.opts.backoff_base_seconds,
                              row.attempts)
                return None
            except PoisonMessage as exc:  # not permitted, or nothing SMTP can carry: dead-lettered
                return Result("refused", exc.reason, exc.detail)
            ledger.store_message(conn, row.outbound_id, composed)
            row = ledger.get(conn, row.outbound_id) or row
        return self.deliverer.attempt(conn, row, account)

    def _dead_letter(self, row: ledger.Row, reason: str, detail: str) -> None:
        src = row.source
        record = Record(src.topic, src.partition, src.offset, src.key, src.value, [])
        delivery = self.producer.send(dead_letter(record, PoisonMessage(reason, detail), "sender"))
        self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        if (err := delivery.error()) is not None:
            raise RuntimeError(f"dead letter not acknowledged: {err!r}")
        metrics.DEAD_LETTERS.labels(stage="sender", reason=reason).inc()

    def _gauges(self, conn: Any) -> None:
        for status, n in conn.execute("SELECT s.status, count(o.outbound_id) FROM (VALUES ('deferred'), ('held'), "
                                      "('sending')) AS s(status) LEFT JOIN outbound_sends o USING (status) "
                                      "GROUP BY s.status"):
            metrics.SENDER_QUEUED.labels(status=status).set(n)
        stopped = conn.execute("SELECT count(*) FROM sender_mailboxes WHERE stopped_reason IS NOT NULL").fetchone()
        metrics.SENDER_MAILBOXES_STOPPED.set(stopped[0])
