"""Publishing fetched messages to ``mail.raw``: claim-check large ones to S3 first, send the rest,
flush, and only then report them done. Blocks until Kafka acknowledged (acks=all) every record."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..common import metrics
from ..common.errors import PoisonMessage, TransientError
from ..common.objects import put_content
from ..common.runtime.ports import Delivery, ProducerPort
from ..common.topics import RAW
from .records import Fetched, LedgerEntry, dead_letter_record, ledger_entry, raw_record


class Publisher:
    """Thread-safe (the producer is); one per replica."""

    def __init__(self, producer: ProducerPort, s3: Any, bucket: str, claim_check_bytes: int,
                 flush_timeout_seconds: float = 60, topic: str = RAW, upload_threads: int = 8) -> None:
        self.producer, self.s3, self.bucket, self.topic = producer, s3, bucket, topic
        self.claim_check_bytes, self.flush_timeout = claim_check_bytes, flush_timeout_seconds
        # Claim-checks are uploaded side by side: one at a time they were 60 % of a fetch.
        self._uploads = ThreadPoolExecutor(upload_threads, thread_name_prefix="claim-check")

    def publish(self, messages: list[Fetched], protocol: str, reindex_generation: int = 0) -> list[LedgerEntry]:
        """Send every message (with ``reindex_generation``: published again by a reindex) and wait
        for the acknowledgements; returns their ledger entries. Raises TransientError when Kafka
        did not acknowledge one or S3 did not take a claim-check (nothing may advance then), and
        DependencyConfigError when S3 refuses the credentials or bucket."""
        deliveries: list[Delivery] = []
        entries = []
        uploads = {i: self._uploads.submit(self._claim_check, m) for i, m in enumerate(messages)
                   if not m.unreadable and len(m.raw) > self.claim_check_bytes}
        for i, msg in enumerate(messages):
            if msg.unreadable:
                deliveries.append(self.producer.send(dead_letter_record(msg, self.topic)))
                entries.append(ledger_entry(msg, False))
                continue
            try:
                claim = uploads[i].result() if i in uploads else None  # durable before the record points at it
            except PoisonMessage as exc:  # S3 refuses this one object (too large for it, say)
                msg = replace(msg, unreadable=f"claim-check refused by S3: {exc}")
                deliveries.append(self.producer.send(dead_letter_record(msg, self.topic)))
                entries.append(ledger_entry(msg, False))
                continue
            deliveries.append(self.producer.send(raw_record(msg, claim, self.topic, reindex_generation)))
            entries.append(ledger_entry(msg, claim is not None))
        metrics.CLAIM_CHECKS.inc(len(uploads))
        self.producer.flush(self.flush_timeout)
        for d in deliveries:
            if (err := d.error()) is not None:
                raise TransientError(f"mail.raw record not acknowledged: {err!r}")
        metrics.FETCHED_MESSAGES.labels(protocol=protocol).inc(len(messages))
        metrics.FETCHED_BYTES.labels(protocol=protocol).inc(sum(m.size for m in messages))
        for e in entries:
            metrics.LEDGER_OUTCOMES.labels(outcome=e.outcome).inc()
        return entries

    def _claim_check(self, msg: Fetched) -> str:
        """Store the message in S3 (durable before any record points at it); returns its key.
        Unconditional PUT: whole messages are rarely stored twice, so a HEAD first costs more than
        it saves, and writing the same content-addressed object again is harmless. Raises what the
        S3 adapter makes of a failure (put_content)."""
        return put_content(self.s3, self.bucket, "raw", msg.raw, msg.sha256, check_exists=False)
