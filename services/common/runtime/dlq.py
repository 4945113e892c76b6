"""Dead-lettering: the original record plus provenance headers, and a guard on the ratio.

A dead letter keeps the record's key, value and headers and adds the ``dlq-*`` headers named
below; ``mailpipe dlq list|show|replay`` (``mailpipe.common.dlqtool``) reads them, and a replay
sends the record back to its source topic with ``original_headers()`` plus ``replayed-from``.
"""

from __future__ import annotations

import collections

from ..errors import DeadLetterRatioExceeded, PoisonMessage
from ..topics import dlq
from .ports import Headers, Output, Record

MAX_ERROR_CHARS = 2000
PROVENANCE_PREFIX = "dlq-"
SOURCE_TOPIC = "dlq-source-topic"
SOURCE_PARTITION = "dlq-source-partition"  # absent when the record never was on the source topic
SOURCE_OFFSET = "dlq-source-offset"  # (the fetcher's dead letters: the server never delivered it)
STAGE = "dlq-stage"
REASON = "dlq-reason"
ERROR = "dlq-error"
REPLAYED_FROM = "replayed-from"  # on a replayed record: the id of the dead letter it came from


def original_headers(headers: Headers) -> Headers:
    """``headers`` without the ``dlq-*`` provenance: what the record carried on its source topic."""
    return [(k, v) for k, v in headers if not k.startswith(PROVENANCE_PREFIX)]


def dead_letter(record: Record, error: PoisonMessage, stage: str) -> Output:
    """The DLQ record for ``record``: same key, value and headers, plus ``dlq-*`` provenance that
    ``mailpipe dlq replay`` and operators read."""
    provenance = [
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (STAGE, stage.encode()),
        (REASON, error.reason.encode()),
        (ERROR, error.detail[:MAX_ERROR_CHARS].encode("utf-8", "replace")),
    ]
    return Output(dlq(record.topic), record.key, record.value, original_headers(record.headers) + provenance)


class DeadLetterGuard:
    """Counts poison among the last ``window`` records; past ``max_ratio`` (once at least
    ``min_records`` were seen) it raises DeadLetterRatioExceeded, because a stage that dead-letters
    most of its input has a bug or a bad dependency, not bad input."""

    def __init__(self, window: int, min_records: int, max_ratio: float) -> None:
        self._recent: collections.deque[bool] = collections.deque(maxlen=window)
        self._min, self._max = min_records, max_ratio

    def observe(self, poisoned: bool) -> None:
        """Record one outcome; raises DeadLetterRatioExceeded when the ratio is crossed."""
        self._recent.append(poisoned)
        self._check()

    def poisoned_after_all(self) -> None:
        """A record already observed as handled turned out to be poison (a stage refused it when
        making its writes durable): it counts once, as poison. Raises like ``observe``."""
        for index in range(len(self._recent) - 1, -1, -1):
            if not self._recent[index]:
                self._recent[index] = True
                break
        else:
            self._recent.append(True)  # its success already left the window
        self._check()

    def _check(self) -> None:
        bad = sum(self._recent)
        if len(self._recent) >= self._min and bad / len(self._recent) > self._max:
            raise DeadLetterRatioExceeded(
                f"{bad} of the last {len(self._recent)} records were dead-lettered (limit {self._max:.0%})")
