"""The consumer loop every stage runs on.

One batch at a time: poll, hand each record to the stage, send its outputs, make the stage's own
writes durable (``Stage.durable``), flush (every output acknowledged), and only then commit.
A crash anywhere before the commit replays the batch, and idempotent writes downstream make the
replay invisible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..adapters import translate
from ..errors import ConfigError, PoisonMessage, TransientError
from ..metrics import (
    BATCH_SECONDS,
    COMMITS,
    DEAD_LETTERS,
    DEPENDENCIES,
    DEPENDENCY_RETRIES,
    RECORDS_CONSUMED,
    RECORDS_PRODUCED,
)
from ..settings import RuntimeSettings
from .dlq import DeadLetterGuard, dead_letter
from .ports import ConsumerPort, Delivery, Output, Partition, ProducerPort, Record
from .retry import call_with_retry

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


Rejected = tuple[Record, PoisonMessage]
Outcome = list[Output] | PoisonMessage  # a record's outputs, or why it can never be processed
Sent = tuple[Record, Delivery, bool]  # the input record, the send of one of its outputs, a dead letter?


class Stage:
    """A stage's logic: input records in, the records to produce out; no Kafka.

    ``handle`` takes one record. It raises PoisonMessage for input that can never be processed,
    TransientError (or a dependency error the adapters' tables call transient) for failures a
    retry may fix, ConfigError when a dependency refuses the configuration (the stage stops,
    nothing committed). Any other exception is a bug for this record and is dead-lettered as
    ``unhandled``.

    A stage that does its work a poll batch at a time (one database transaction, overlapped
    S3 requests) overrides ``handle_batch``; the runner then calls it instead of ``handle``.

    ``durable`` is called before every offset commit (end of a batch, rebalance): it blocks until
    everything ``handle`` accepted since the last call is durable, and returns the records it found
    it can never store, which are dead-lettered before the commit. It raises TransientError (or an
    untranslated dependency error) when the writes may be lost: the runner retries it like
    ``handle``, and when the retries are spent nothing is committed. A stage must keep the records
    of a failed call and write them again on the next one. The default has nothing to make durable.
    """

    name: str = "stage"

    def handle(self, record: Record) -> list[Output]:
        raise NotImplementedError

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """Every record's outcome, in order. Blocks on the stage's dependencies. Raises
        TransientError (the runner retries the whole batch, so it must be safe to repeat) or
        ConfigError; any other exception makes the runner fall back to ``handle`` record by record
        to find the record at fault. The default calls ``handle`` on each record."""
        outcomes: list[Outcome] = []
        for record in records:
            try:
                outcomes.append(self.handle(record))
            except PoisonMessage as exc:
                outcomes.append(exc)
        return outcomes

    def durable(self) -> list[Rejected]:
        return []

    @property
    def batched(self) -> bool:
        """Whether this stage overrides ``handle_batch``."""
        return type(self).handle_batch is not Stage.handle_batch


class StageRunner:
    """Runs ``stage`` over a consumer until ``stop`` is set. ``run`` blocks; it raises
    TransientError when retries are spent, ConfigError when a dependency refuses the
    configuration and DeadLetterRatioExceeded when most input is poison, in every case without
    committing the batch at hand."""

    def __init__(self, stage: Stage, consumer: ConsumerPort, producer: ProducerPort, settings: RuntimeSettings,
                 on_progress: Callable[[], None] = lambda: None, sleep: Callable[[float], None] = time.sleep):
        self.stage, self.consumer, self.producer, self.settings = stage, consumer, producer, settings
        self._on_progress, self._sleep = on_progress, sleep
        self._guard = DeadLetterGuard(settings.dlq_window_records, settings.dlq_min_records, settings.dlq_max_ratio)
        self._done: dict[Partition, int] = {}  # handled and sent, not yet committed
        self._revoke_failed: BaseException | None = None
        # Every series from 0, scraped before the first record: a counter born at its first batch's
        # count gives rate() and increase() nothing to compare with (a whole poll batch unseen).
        for dependency in DEPENDENCIES:
            DEPENDENCY_RETRIES.labels(stage=stage.name, dependency=dependency)
        RECORDS_CONSUMED.labels(stage=stage.name)
        COMMITS.labels(stage=stage.name)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_once()

    def run_once(self) -> int:
        """Poll one batch and process it; returns how many records it took."""
        self._raise_revoke_failure()
        records = self.consumer.poll(self.settings.poll_timeout_seconds, self.settings.batch_max_records)
        self._raise_revoke_failure()
        self._on_progress()
        if records:
            with BATCH_SECONDS.labels(stage=self.stage.name).time():
                self._process(records)
        return len(records)

    def on_revoked(self, partitions: Sequence[Partition]) -> None:
        """Rebalance hook: commit what is done before the partitions go to another member. A
        failure is kept and raised by the next ``run_once`` as a TransientError (not left to the
        client, which logs and swallows a callback's exception in some versions and re-raises it
        from ``poll`` in others): the process stops without committing, the new owners replay."""
        try:
            self._flush_and_commit()
        except Exception as exc:
            log.exception("could not commit on rebalance", extra={"stage": self.stage.name})
            self._revoke_failed = exc

    def _raise_revoke_failure(self) -> None:
        if self._revoke_failed is not None:
            raise TransientError("the commit on a rebalance failed", dependency="kafka") from self._revoke_failed

    def _process(self, records: list[Record]) -> None:
        if self.stage.batched:
            outcomes = self._handle_batch(records)
            if outcomes is not None:
                deliveries: list[Sent] = []
                for record, outcome in zip(records, outcomes, strict=True):
                    if isinstance(outcome, PoisonMessage):
                        outputs = self._poisoned(record, outcome)
                    else:
                        self._guard.observe(False)
                        outputs = outcome
                    self._accept(record, outputs, deliveries)
                self._flush_and_commit(deliveries)
                return
        self._process_each(records)

    def _handle_batch(self, records: list[Record]) -> list[Outcome] | None:
        """The stage's outcomes for the whole batch, retried as one; None when it failed in a way
        only handling the records one by one can pin on a record."""
        try:
            outcomes = self._retrying(lambda: self.stage.handle_batch(records))
        except (TransientError, ConfigError):
            raise
        except Exception:
            log.exception("batch failed; handling its records one by one",
                          extra={"stage": self.stage.name, "records": len(records)})
            return None
        if len(outcomes) != len(records):
            raise AssertionError(f"{self.stage.name}: {len(outcomes)} outcomes for {len(records)} records")
        return outcomes

    def _accept(self, record: Record, outputs: list[Output], deliveries: list[Sent]) -> None:
        deliveries += self._send(record, outputs)
        RECORDS_CONSUMED.labels(stage=self.stage.name).inc()
        self._done[(record.topic, record.partition)] = record.offset + 1

    def _process_each(self, records: list[Record]) -> None:
        deliveries: list[Sent] = []
        for record in records:
            self._accept(record, self._handle(record), deliveries)
        self._flush_and_commit(deliveries)

    def _send(self, record: Record, outputs: list[Output], dead_letters: bool = False) -> list[Sent]:
        """Send ``record``'s outputs; when the client refuses one as poison (a record too large),
        the record is dead-lettered instead (outputs already sent stay: consumers are idempotent)."""
        sent: list[Sent] = []
        for output in outputs:
            try:
                sent.append((record, self.producer.send(output), dead_letters))
            except Exception as exc:
                kind = translate(exc)
                if dead_letters or not isinstance(kind, PoisonMessage):
                    raise
                return sent + self._send(record, self._poisoned(record, kind, handled=True), dead_letters=True)
            RECORDS_PRODUCED.labels(stage=self.stage.name, topic=output.topic).inc()
        return sent

    def _retrying(self, fn: Callable[[], T]) -> T:
        s = self.settings
        return call_with_retry(fn, attempts=s.retry_attempts, backoff_seconds=s.retry_backoff_seconds,
                               backoff_max_seconds=s.retry_backoff_max_seconds, stage=self.stage.name,
                               sleep=self._sleep)

    def _handle(self, record: Record) -> list[Output]:
        try:
            outputs = self._retrying(lambda: self.stage.handle(record))
        except PoisonMessage as exc:
            return self._poisoned(record, exc)
        except (TransientError, ConfigError):
            raise
        except Exception as exc:
            log.exception("unhandled error; dead-lettering the record",
                          extra={"stage": self.stage.name, "offset": record.offset})
            return self._poisoned(record, PoisonMessage("unhandled", f"{type(exc).__name__}: {exc}"))
        self._guard.observe(False)
        return outputs

    def _poisoned(self, record: Record, exc: PoisonMessage, handled: bool = False) -> list[Output]:
        """The DLQ output for ``record``; ``handled``: it was already counted as handled."""
        log.warning("dead-lettering record", extra={"stage": self.stage.name, "reason": exc.reason,
                                                    "topic": record.topic, "offset": record.offset,
                                                    "error": exc.detail[:300]})
        DEAD_LETTERS.labels(stage=self.stage.name, reason=exc.reason).inc()
        if handled:
            self._guard.poisoned_after_all()
        else:
            self._guard.observe(not exc.expected)
        return [dead_letter(record, exc, self.stage.name)]

    def _make_durable(self) -> list[Sent]:
        """The stage's own writes durable; the records it refused dead-lettered (sent, not flushed)."""
        deliveries = []
        for record, exc in self._retrying(self.stage.durable):
            deliveries += self._send(record, self._poisoned(record, exc, handled=True), dead_letters=True)
        return deliveries

    def _flush_and_commit(self, deliveries: Sequence[Sent] = ()) -> None:
        if not self._done:
            return
        deliveries = [*deliveries, *self._make_durable()]
        while True:
            self.producer.flush(FLUSH_TIMEOUT_SECONDS)
            deliveries = self._refused_outputs_dead_lettered(deliveries)
            if not deliveries:
                break
        self.consumer.commit(dict(self._done))
        COMMITS.labels(stage=self.stage.name).inc()
        self._done.clear()

    def _refused_outputs_dead_lettered(self, deliveries: Sequence[Sent]) -> list[Sent]:
        """After a flush: dead letters (sent, not flushed) for the records whose output the broker
        refused as poison (too large for its topic). Raises TransientError when any other send
        failed, or when a dead letter itself was refused (nothing is committed either way)."""
        refused: dict[tuple[str, int, int], tuple[Record, PoisonMessage]] = {}
        for record, delivery, is_dead_letter in deliveries:
            error = delivery.error()
            if error is None:
                continue
            kind = translate(error)
            if not isinstance(kind, PoisonMessage) or is_dead_letter:
                raise TransientError(f"an output was not acknowledged: {kind or repr(error)}",
                                     dependency="kafka") from error
            refused.setdefault((record.topic, record.partition, record.offset), (record, kind))
        return [sent for record, kind in refused.values()
                for sent in self._send(record, self._poisoned(record, kind, handled=True), dead_letters=True)]
