"""Dead-lettering: the original record plus provenance headers, and a guard on the ratio."""

from __future__ import annotations

import collections

from ..errors import DeadLetterRatioExceeded, PoisonMessage
from ..topics import dlq
from .ports import Output, Record

MAX_ERROR_CHARS = 2000


def dead_letter(record: Record, error: PoisonMessage, stage: str) -> Output:
    """The DLQ record for ``record``: same key, value and headers, plus ``dlq-*`` provenance that
    ``mailpipe dlq replay`` and operators read."""
    provenance = [
        ("dlq-source-topic", record.topic.encode()),
        ("dlq-source-partition", str(record.partition).encode()),
        ("dlq-source-offset", str(record.offset).encode()),
        ("dlq-stage", stage.encode()),
        ("dlq-reason", error.reason.encode()),
        ("dlq-error", error.detail[:MAX_ERROR_CHARS].encode("utf-8", "replace")),
    ]
    kept = [(k, v) for k, v in record.headers if not k.startswith("dlq-")]
    return Output(dlq(record.topic), record.key, record.value, kept + provenance)


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
