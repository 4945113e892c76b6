"""The fetcher process: poll the mailbox, publish new messages, advance the cursor after Kafka acks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..common import clients, metrics
from ..common.errors import TransientError
from ..common.messages import Sighting
from ..common.objects import put_content
from ..common.runtime.kafka_ports import KafkaProducerPort
from ..common.runtime.ports import Delivery
from ..common.service import start_process
from ..common.settings import load
from . import cursors
from .records import raw_record
from .settings import FetcherSettings
from .sources.imap import ImapMailSource, MailboxUnavailable

log = logging.getLogger(__name__)


class MailboxPoller:
    """Reads every folder of one mailbox once per ``poll``. Blocks on the network; raises
    MailboxUnavailable when the server fails and TransientError when Kafka does not acknowledge."""

    def __init__(self, settings: FetcherSettings, producer: KafkaProducerPort, conn: Any, s3: Any) -> None:
        self.s, self.producer, self.conn, self.s3 = settings, producer, conn, s3

    def poll(self) -> int:
        box, fetch = self.s.mailbox, self.s.fetch
        published = 0
        with metrics.POLL_SECONDS.labels(protocol="imap").time(), ImapMailSource(box, fetch.timeout_seconds) as src:
            for folder in box.folders:
                validity = src.examine(folder)
                after = cursors.start_after(cursors.load(self.conn, box.id, folder), validity)
                uids = src.uids_after(after)
                for start in range(0, len(uids), fetch.batch_size):
                    chunk = uids[start:start + fetch.batch_size]
                    published += self._publish(src, folder, validity, chunk)
                    cursors.save(self.conn, box.id, folder, validity, chunk[-1])
        return published

    def _publish(self, src: ImapMailSource, folder: str, validity: int, uids: list[int]) -> int:
        deliveries: list[Delivery] = []
        size_total = 0
        for msg in src.fetch(uids):
            sighting = Sighting(mailbox_id=self.s.mailbox.id, folder=folder, uidvalidity=validity, uid=msg.uid)
            claim = None
            if len(msg.raw) > self.s.fetch.claim_check_bytes:
                claim = put_content(self.s3, self.s.s3.bucket, "raw", msg.raw)
                metrics.CLAIM_CHECKS.inc()
            deliveries.append(self.producer.send(raw_record(sighting, msg.raw, msg.size, msg.internal_date, claim)))
            size_total += len(msg.raw)
        self.producer.flush(60)
        for d in deliveries:
            if (err := d.error()) is not None:
                raise TransientError(f"mail.raw record not acknowledged: {err!r}")
        metrics.FETCHED_MESSAGES.labels(protocol="imap").inc(len(deliveries))
        metrics.FETCHED_BYTES.labels(protocol="imap").inc(size_total)
        return len(deliveries)


def main() -> int:
    settings = load(FetcherSettings)
    health, stop = start_process("fetcher", settings)
    producer = KafkaProducerPort(clients.make_producer(settings.kafka))
    conn = clients.connect_postgres(settings.postgres, autocommit=True)
    poller = MailboxPoller(settings, producer, conn, clients.make_s3(settings.s3))
    backoff = settings.fetch.poll_interval_seconds
    try:
        while not stop.is_set():
            health.progress()
            try:
                n = poller.poll()
            except MailboxUnavailable as exc:
                metrics.FETCH_ERRORS.labels(kind="server").inc()
                log.warning("mailbox unavailable; backing off",
                            extra={"mailbox_id": settings.mailbox.id, "error": str(exc), "delay_seconds": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 300)
                continue
            backoff = settings.fetch.poll_interval_seconds
            health.set_ready(True)
            if n:
                log.info("published", extra={"mailbox_id": settings.mailbox.id, "messages": n})
            _wait_for_next_poll(stop, health, settings.fetch.poll_interval_seconds)
    except TransientError as exc:
        log.error("stopping: a dependency failed", extra={"error": str(exc)})
        return 1
    finally:
        producer.close()
        conn.close()
    return 0


def _wait_for_next_poll(stop: threading.Event, health: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        stop.wait(min(1.0, seconds))
        health.progress()
