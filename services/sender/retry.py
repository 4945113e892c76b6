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

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.runtime.dlq import dead_letter
from ..common.runtime.ports import ProducerPort, Record
from ..common.secretbox import SealedBox
from . import accounts, ledger, requests
from .delivery import Deliverer, Result, refused
from .settings import SenderOptions
from .stage import Composer

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
        replicas' loops never act on one row together."""
        counts: dict[str, int] = {}
        for outbound_id in ledger.due(conn, self.batch):
            row = ledger.get(conn, outbound_id)
            if row is None or not ledger.lease(conn, outbound_id, self.opts.lease_seconds):
                continue  # someone else took it meanwhile
            result = self._expired(conn, row) or self._attempt(conn, row)
            if result is None:
                continue
            if result.status == "refused":
                self._dead_letter(row, result.reason, result.detail)
                refused(conn, outbound_id, result)
            counts[result.status] = counts.get(result.status, 0) + 1
        self._gauges(conn)
        return counts

    def _expired(self, conn: Any, row: ledger.Row) -> Result | None:
        """The refusal of a row that has waited past ``give_up_after_hours`` (a send that died in
        the acceptance window that long ago is not repeated either)."""
        return self.deliverer.expired(row, row.reason or "")

    def _attempt(self, conn: Any, row: ledger.Row) -> Result | None:
        """Send the leased row, composed first when it was held before it could be; None when it
        still cannot be composed (held again, looked at after ``backoff_base_seconds``)."""
        if not row.message:
            try:
                request = requests.decode(row.source.value)
                composed = self.composer.compose(request, accounts.load(conn, self.box, row.mailbox_id))
            except (accounts.CannotSend, accounts.UnknownMailbox, PoisonMessage) as exc:
                ledger.settle(conn, row.outbound_id, "held", row.reason or str(exc), self.opts.backoff_base_seconds)
                return None
            ledger.store_message(conn, row.outbound_id, composed)
        leased = ledger.get(conn, row.outbound_id)
        assert leased is not None
        return self.deliverer.attempt(conn, leased)

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
